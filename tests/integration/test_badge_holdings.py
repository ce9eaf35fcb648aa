"""Who held a badge when (docs/rules.md, rule 1), on SQLite and PostgreSQL: a tap is its
holder's at its time stamp, whenever it reaches the hub. A door offline while a card changed
hands, its previous holder's taps arriving afterwards are theirs (sessions, export), never
the new holder's; a revoked badge's late taps are its holder's then."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from hub.doors.enrolment import assign_badge, revoke_badge
from hub.intake.ingest import ingest_lines
from hub.people.imports import import_members, import_sites
from hub.presence.engine import Presence
from hub.presence.events import apply_quarantined
from hub.presence.retention import erase_member, export_member
from hub.store import make_engine, migrate
from hub.store.migrations import alembic_config
from hub.store.models import (
    Badge,
    BadgeHolding,
    Event,
    Member,
    PresenceSession,
    UtcDateTime,
    utcnow,
)
from telecentre import wire

SITES = "sites: [{id: murat, name: La Cocotte Numérique}]\n"
MEMBERS = (
    "member_id,last_name,first_name,email,category,pass_since,pass_until,badges\n"
    "M001,Durand,Anne,,independent,,,04A2B3C4\n"
    "M002,Martin,Paul,,employee,,,0A1B2C3D\n"
)
CARD = "04A2B3C4"  # Anne's, then Paul's
#: `badges` from 0015 to 0018, when it also said when its holder was given it.
BADGES_UNTIL_0018 = sa.table(
    "badges",
    sa.column("uid"),
    sa.column("member_id"),
    sa.column("active", sa.Boolean()),
    *(sa.column(name, UtcDateTime()) for name in ("updated_at", "assigned_at", "revoked_at")),
)


@pytest.fixture
def store(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    with sessions.begin() as session:
        import_sites(session, SITES)
        import_members(session, MEMBERS)
    return sessions


def moment(delta: timedelta = timedelta()) -> datetime:
    """Now plus `delta`, to the millisecond a tap's time stamp carries."""
    at = utcnow() + delta
    return at.replace(microsecond=at.microsecond // 1000 * 1000)


def tap(ts: datetime, badge: str = CARD) -> dict[str, Any]:
    return wire.badge_event(
        site="murat", device="murat-door", badge=badge, reader="entrance",
        direction="toggle", access="granted", clock_synced=True,
    ) | {"seq": 1, "ts": ts.isoformat(timespec="milliseconds")}  # fmt: skip


def deliver(store: sessionmaker[Session], *taps: dict[str, Any]) -> None:
    """The taps reaching the hub now, through the presence engine."""
    with store.begin() as session:
        ingest_lines(session, [wire.encode(t) for t in taps], [Presence().apply])


def stays(store: sessionmaker[Session], member_id: str) -> list[tuple[datetime, datetime | None]]:
    with store() as session:
        return [
            (s.start, s.end)
            for s in session.scalars(
                select(PresenceSession)
                .where(PresenceSession.member_id == member_id)
                .order_by(PresenceSession.start)
            )
        ]


def holder(store: sessionmaker[Session], event: dict[str, Any]) -> str | None:
    with store() as session:
        return session.scalar(select(Event.member_id).where(Event.id == event["id"]))


def exported(store: sessionmaker[Session], member_id: str) -> set[str]:
    with store.begin() as session:
        return {e["id"] for e in export_member(session, member_id)["events"]}


def change(store: sessionmaker[Session], step: str, member_id: str = "") -> None:
    time.sleep(0.01)  # distinct instants, on any clock's resolution
    with store.begin() as session:
        if step == "revoke":
            revoke_badge(session, uid=CARD, actor="test")
        else:
            assign_badge(session, uid=CARD, member_id=member_id, actor="test")


def holdings(store: sessionmaker[Session]) -> list[tuple[str, bool, bool]]:
    """The card's holdings, oldest first: holder, bounded before, bounded after."""
    with store() as session:
        rows = session.scalars(
            select(BadgeHolding).where(BadgeHolding.uid == CARD).order_by(BadgeHolding.id)
        )
        return [(h.member_id, h.held_from is not None, h.held_until is not None) for h in rows]


def test_a_late_tap_of_the_previous_holder_is_theirs_not_the_new_holders(
    store: sessionmaker[Session],
) -> None:
    start = moment(-timedelta(hours=3))
    # Anne's stay, made while the door was offline: it reaches the hub only later.
    anne_in, anne_out = tap(start), tap(start + timedelta(hours=1))
    change(store, "revoke")  # Anne lost it
    before_giving = utcnow()
    change(store, "assign", "M002")  # found, and given to Paul
    after_giving = utcnow()
    assert holdings(store) == [("M001", False, True), ("M002", True, False)]
    deliver(store, anne_in, anne_out)
    assert stays(store, "M001") == [(start, start + timedelta(hours=1))]
    assert stays(store, "M002") == []
    assert holder(store, anne_in) == holder(store, anne_out) == "M001"
    # Paul's taps since the card is his are his.
    now = moment(timedelta(seconds=1))
    paul_in, paul_out = tap(now), tap(now + timedelta(seconds=90))
    deliver(store, paul_in, paul_out)
    assert stays(store, "M002") == [(now, now + timedelta(seconds=90))]
    assert stays(store, "M001") == [(start, start + timedelta(hours=1))]
    assert exported(store, "M001") == {anne_in["id"], anne_out["id"]}
    assert exported(store, "M002") == {paul_in["id"], paul_out["id"]}
    with store.begin() as session:
        anne, paul = (export_member(session, m)["badge_holdings"] for m in ("M001", "M002"))
    assert [(h["uid"], h["held_from"]) for h in anne] == [(CARD, None)]
    assert [(h["uid"], h["held_until"]) for h in paul] == [(CARD, None), ("0A1B2C3D", None)]
    given = datetime.fromisoformat(paul[0]["held_from"])
    assert before_giving <= given <= after_giving
    # Revoked, then given: in between, the card was no one's.
    assert anne[0]["held_until"] < paul[0]["held_from"]


def test_a_card_moved_by_the_members_file_splits_its_taps_at_the_move(
    store: sessionmaker[Session],
) -> None:
    before = moment(-timedelta(hours=2))
    time.sleep(0.01)
    with store.begin() as session:  # the card is now Paul's only
        import_members(session, MEMBERS.replace("0A1B2C3D", CARD).replace(f",{CARD}\n", ",\n", 1))
    after = moment(timedelta(seconds=1))
    earlier, later = tap(before), tap(after)
    deliver(store, earlier, later)
    assert (holder(store, earlier), holder(store, later)) == ("M001", "M002")
    assert holdings(store) == [("M001", False, True), ("M002", True, False)]


def test_a_revoked_badges_late_tap_is_its_holders_then(store: sessionmaker[Session]) -> None:
    made = moment(-timedelta(hours=1))
    late = tap(made)
    change(store, "revoke")
    after = tap(moment(timedelta(seconds=1)))  # found and tried by someone: nobody's
    deliver(store, late, after)
    assert holder(store, late) == "M001"
    assert holder(store, after) is None
    assert stays(store, "M001") == [(made, None)]


def test_given_back_to_the_same_member_leaves_the_days_it_was_revoked_to_no_one(
    store: sessionmaker[Session],
) -> None:
    change(store, "revoke")
    time.sleep(0.01)
    between = moment()
    change(store, "assign", "M001")
    assert holdings(store) == [("M001", False, True), ("M001", True, False)]
    early, lost, back = (
        tap(between - timedelta(hours=1)),
        tap(between),
        tap(moment(timedelta(seconds=1))),
    )
    deliver(store, early, lost, back)
    assert [holder(store, t) for t in (early, lost, back)] == ["M001", None, "M001"]


def test_past_taps_imported_after_the_members_file_are_the_members(
    store: sessionmaker[Session],
) -> None:
    """The members file made the member today; their year before comes after it."""
    year_ago = moment(-timedelta(days=365))
    old = tap(year_ago)
    with store.begin() as session:
        ingest_lines(session, [wire.encode(old)])
    assert holder(store, old) == "M001"


def test_an_applied_quarantined_tap_is_the_holders_at_its_stamp(
    store: sessionmaker[Session],
) -> None:
    """A Pi's clock a day ahead: quarantined as Anne's card; the card goes to Paul, and an
    admin applies the tap as stamped: Paul held it then."""
    ahead = tap(moment(timedelta(days=1)))
    deliver(store, ahead)
    with store() as session:
        row = session.get(Event, ahead["id"])
        assert row is not None and (row.outcome, row.outcome_reason) == ("quarantined", "future")
    change(store, "revoke")
    change(store, "assign", "M002")
    with store.begin() as session:
        applied = apply_quarantined(session, ahead["id"], actor="test", presence=[Presence().apply])
        assert (applied.member_id, applied.outcome) == ("M002", "counted")
    assert [start for start, _ in stays(store, "M002")] == [datetime.fromisoformat(ahead["ts"])]
    assert stays(store, "M001") == []


def test_erasing_a_member_erases_their_holdings_and_the_next_holders_stay(
    store: sessionmaker[Session],
) -> None:
    change(store, "revoke")
    change(store, "assign", "M002")
    with store.begin() as session:
        erase_member(session, "M001")
    assert holdings(store) == [("M002", True, False)]
    earlier = tap(moment(-timedelta(hours=1)))  # Anne's time: no one's now
    deliver(store, earlier)
    assert holder(store, earlier) is None


def test_the_migration_gives_each_badge_its_holder_until_it_was_taken_back(
    db_url: str,
) -> None:
    """Badges of a hub from before `badge_holdings` (revision 0016)."""
    command.upgrade(alembic_config(db_url), "0016")
    taken = datetime(2026, 11, 2, 9, tzinfo=UTC)
    engine = make_engine(db_url)
    with engine.begin() as connection:
        connection.execute(
            insert(sa.table("members", sa.column("id"), sa.column("last_name"),
                            sa.column("first_name"), sa.column("category"),
                            sa.column("created_at"), sa.column("updated_at"))),
            [{"id": m, "last_name": m, "first_name": m, "category": "other",
              "created_at": taken, "updated_at": taken} for m in ("M001", "M002")],
        )  # fmt: skip
        # The table only, as it was then (0019 dropped its two times): no mapper event.
        connection.execute(
            insert(BADGES_UNTIL_0018),
            [
                {"uid": CARD, "member_id": "M001", "active": True, "updated_at": taken,
                 "assigned_at": taken, "revoked_at": None},
                {"uid": "0A1B2C3D", "member_id": "M002", "active": False, "updated_at": taken,
                 "assigned_at": taken - timedelta(days=30), "revoked_at": taken},
            ],
        )  # fmt: skip
    engine.dispose()
    migrate(db_url)
    engine = make_engine(db_url)
    with Session(engine) as session:
        rows = session.execute(
            select(
                BadgeHolding.uid,
                BadgeHolding.member_id,
                BadgeHolding.held_from,
                BadgeHolding.held_until,
            ).order_by(BadgeHolding.uid)
        ).all()
        assert [tuple(r) for r in rows] == [
            ("04A2B3C4", "M001", None, None),
            ("0A1B2C3D", "M002", None, taken),
        ]
        session.add(Member(id="M003", last_name="Roux", first_name="Léa", category="other"))
        badge = session.get(Badge, CARD)
        assert badge is not None
        badge.member_id = "M003"  # moved after the upgrade: the history goes on from there
        session.commit()
        moved = session.scalars(
            select(BadgeHolding).where(BadgeHolding.uid == CARD).order_by(BadgeHolding.id)
        ).all()
        assert [(h.member_id, h.held_from is None, h.held_until is None) for h in moved] == [
            ("M001", True, False),
            ("M003", False, True),
        ]
        assert moved[0].held_until == moved[1].held_from  # given at one instant
    engine.dispose()


def test_a_card_given_by_two_admins_at_once_is_the_last_ones_only(
    store: sessionmaker[Session],
) -> None:
    """Two hub processes give the revoked card at once (PostgreSQL: the second waits for the
    first's row): the card is the second's holder, and so are its taps from then on."""
    if store.kw["bind"].dialect.name == "sqlite":
        pytest.skip("SQLite lets one writer at a time: the second cannot read it stale")
    with store.begin() as session:
        session.add(Member(id="M003", last_name="Roux", first_name="Léa", category="other"))
    change(store, "revoke")
    given, go = threading.Event(), threading.Event()

    def first() -> None:
        with store.begin() as session:
            assign_badge(session, uid=CARD, member_id="M002", actor="first")
            given.set()
            go.wait(10)

    def second() -> None:
        with store.begin() as session:
            assign_badge(session, uid=CARD, member_id="M003", actor="second")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    assert given.wait(10)
    threads[1].start()  # reads the card revoked, then waits for the first's row lock
    time.sleep(0.3)
    go.set()
    for thread in threads:
        thread.join(10)
    with store() as session:
        card = session.get(Badge, CARD)
        assert card is not None and (card.member_id, card.active) == ("M003", True)
    assert [h for h in holdings(store) if not h[2]] == [("M003", True, False)]
    now = tap(moment(timedelta(seconds=1)))
    deliver(store, now)
    assert holder(store, now) == "M003"


@pytest.mark.xfail(
    strict=True,
    reason="not fixed (review3): erasing the card's only holder leaves it no history, so the "
    "next holder's first holding has no start; needs badge_holdings.member_id nullable "
    "(ON DELETE SET NULL: a holding of no one) in a migration",
)
def test_an_erased_holders_late_tap_is_never_the_cards_next_holders(
    store: sessionmaker[Session],
) -> None:
    late = tap(moment(-timedelta(hours=1)))  # Anne's, while the door was offline
    with store.begin() as session:
        erase_member(session, "M001")
    change(store, "assign", "M002")
    deliver(store, late)
    assert holder(store, late) is None
    assert stays(store, "M002") == []
