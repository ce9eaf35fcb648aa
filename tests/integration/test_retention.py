"""Retention, export and erasure (RULES.md, Retention (CNIL)) on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

import pytest
from alembic import command
from sqlalchemy import Engine, Table, func, insert, inspect, select, text
from sqlalchemy.orm import Session, sessionmaker

from hub.doors.enrolment import assign_badge, revoke_badge
from hub.presence.retention import (
    ERASED,
    UnknownMember,
    apply_retention,
    erase_member,
    export_member,
    years_before,
)
from hub.store import make_engine, make_sessionmaker, migrate
from hub.store.migrations import alembic_config
from hub.store.models import (
    AuditEntry,
    Badge,
    BadgeHolding,
    Event,
    Member,
    PresenceSession,
    RejectedEvent,
    Site,
    utcnow,
)
from tests.integration.test_badge_holdings import BADGES_UNTIL_0018

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
BADGES = {"m1": "04A1A1A1A1", "m2": "04B2B2B2B2", "m3": "04C3C3C3C3", "m4": "04D4D4D4D4"}


def utc(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    migrate(db_url)
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    maker = make_sessionmaker(engine)
    with maker.begin() as session:
        session.add(Site(id="murat", name="La Cocotte Numérique", timezone="Europe/Paris"))
        session.add(Site(id="ydes", name="Maison des Services", timezone="Europe/Paris"))
        for n, (member_id, uid) in enumerate(BADGES.items(), start=1):
            session.add(
                Member(
                    id=member_id,
                    last_name=f"Lastname{n}",
                    first_name=f"Firstname{n}",
                    email=f"member{n}@example.org",
                    category="independent",
                    pass_since=date(2021, 1, 4),
                )
            )
            session.flush()
            # Their badge's first holding: theirs for every earlier tap too.
            session.add(Badge(uid=uid, member_id=member_id))
    return maker


def badge_event(
    event_id: str, ts: datetime, member_id: str | None, uid: str, site: str = "murat"
) -> Event:
    payload = {
        "v": 1, "id": event_id, "type": "badge", "site": site, "device": f"{site}-door",
        "seq": 1, "ts": ts.isoformat(), "clock_synced": True, "badge": uid,
        "reader": "entrance", "direction": "toggle", "access": "granted",
    }  # fmt: skip
    return Event(
        id=event_id, site=site, device=f"{site}-door", seq=1, type="badge", ts=ts,
        ts_offset_min=60, clock_synced=True, badge=uid, member_id=member_id,
        reader="entrance", access="granted", direction="toggle", payload=json.dumps(payload),
    )  # fmt: skip


def other_event(event_id: str, ts: datetime, type_: str, site: str = "murat") -> Event:
    fields: dict[str, Any] = (
        {"door": "front", "state": "open"} if type_ == "door" else
        {"door": "front", "kind": "door_forced"} if type_ == "alarm" else {"door": "front"}
    )  # fmt: skip
    payload = {"v": 1, "id": event_id, "type": type_, "site": site, "device": f"{site}-door",
               "seq": 2, "ts": ts.isoformat(), "clock_synced": True, **fields}  # fmt: skip
    return Event(
        id=event_id, site=site, device=f"{site}-door", seq=2, type=type_, ts=ts,
        ts_offset_min=60, clock_synced=True, payload=json.dumps(payload), **fields,
    )  # fmt: skip


def stay(member_id: str, start: datetime, site: str = "murat") -> PresenceSession:
    return PresenceSession(
        member_id=member_id, site_id=site, start=start, end=start + timedelta(hours=1)
    )


def users_in_year(session: Session, year: int) -> int:
    """Distinct users among sessions started in `year` (UTC is enough for these data)."""
    who = func.coalesce(PresenceSession.member_id, PresenceSession.pseudonym)
    return (
        session.scalar(
            select(func.count(func.distinct(who))).where(
                PresenceSession.start >= utc(year, 1, 1),
                PresenceSession.start < utc(year + 1, 1, 1),
            )
        )
        or 0
    )


def sessions_by_start(session: Session) -> dict[datetime, tuple[str | None, str | None]]:
    rows = session.execute(
        select(PresenceSession.start, PresenceSession.member_id, PresenceSession.pseudonym)
    )
    return {start: (member_id, pseudonym) for start, member_id, pseudonym in rows}


def test_years_before_keeps_the_instant_and_handles_29_february() -> None:
    assert years_before(NOW, 5) == utc(2021, 11, 23, 10)
    assert years_before(utc(2028, 2, 29, 12), 5) == utc(2023, 2, 28, 12)


def test_old_events_are_deleted_and_recent_ones_kept(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        session.add_all(
            [
                badge_event("old-badge", utc(2026, 8, 1, 9), "m1", BADGES["m1"]),
                other_event("old-door", utc(2026, 8, 1, 9), "door"),
                other_event("old-alarm", utc(2026, 8, 25, 9), "alarm"),  # 90 days and 1 h
                badge_event("recent-badge", utc(2026, 8, 25, 11), "m1", BADGES["m1"]),
                other_event("recent-door", utc(2026, 11, 1, 9), "door"),
                RejectedEvent(
                    payload='{"badge": "04A1A1A1A1"',
                    reason="bad JSON",
                    received_at=utc(2026, 7, 1, 9),
                ),
                RejectedEvent(payload="{}", reason="no id", received_at=utc(2026, 11, 1, 9)),
            ]
        )
    with sessions.begin() as session:
        result = apply_retention(session, NOW, events_retention_days=90)
    assert (result.events_deleted, result.rejected_deleted) == (3, 1)
    with sessions() as session:
        assert set(session.scalars(select(Event.id))) == {"recent-badge", "recent-door"}
        assert session.scalars(select(RejectedEvent.reason)).all() == ["no id"]
        audit = session.scalars(select(AuditEntry)).one()
    assert (audit.action, audit.actor, audit.at) == ("retention", "retention", NOW)
    assert audit.detail["events_deleted"] == 3
    assert audit.detail["events_before"] == "2026-08-25T10:00:00+00:00"


def test_an_edge_clock_running_ahead_does_not_keep_events_longer(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        ahead = badge_event("clock-ahead", utc(2027, 6, 1, 9), "m1", BADGES["m1"])
        ahead.received_at = utc(2026, 8, 1, 9)  # really tapped in August
        session.add(ahead)
    with sessions.begin() as session:
        assert apply_retention(session, NOW, events_retention_days=90).events_deleted == 1


def test_old_sessions_get_pseudonyms_and_distinct_users_stay_countable(
    sessions: sessionmaker[Session],
) -> None:
    # Cut-off: 2021-11-23 10:00 UTC.
    m1_old = [utc(2021, 3, 1, 9), utc(2021, 3, 5, 9)]
    m1_same_year = utc(2021, 12, 10, 9)  # not expired, but in an expired local year of m1
    m1_recent = utc(2024, 5, 1, 9)
    m2_old = utc(2021, 6, 1, 9)
    m3_new_year = utc(2020, 12, 31, 23)  # 1 January 2021, 00:00 in Paris: local year 2021
    m3_same_year = utc(2021, 11, 30, 9)
    m4_recent = utc(2022, 2, 1, 9)
    with sessions.begin() as session:
        session.add_all([stay("m1", start) for start in m1_old])
        session.add_all(
            [
                stay("m1", m1_same_year),
                stay("m1", m1_recent),
                stay("m2", m2_old, site="ydes"),
                stay("m3", m3_new_year),
                stay("m3", m3_same_year),
                stay("m4", m4_recent),
            ]
        )
    with sessions() as session:
        before = {year: users_in_year(session, year) for year in (2020, 2021, 2022, 2024)}
    assert before == {2020: 1, 2021: 3, 2022: 1, 2024: 1}

    with sessions.begin() as session:
        result = apply_retention(session, NOW, sessions_retention_years=5)
    assert (result.sessions_pseudonymised, result.members_pseudonymised) == (6, 3)

    with sessions() as session:
        rows = sessions_by_start(session)
    pseudonymised = [m1_old[0], m1_old[1], m1_same_year, m2_old, m3_new_year, m3_same_year]
    for start in pseudonymised:
        member_id, pseudonym = rows[start]
        assert member_id is None and pseudonym is not None, start
    assert rows[m1_recent] == ("m1", None)
    assert rows[m4_recent] == ("m4", None)
    # One pseudonym per member, a different one for each member.
    assert rows[m1_old[0]][1] == rows[m1_old[1]][1] == rows[m1_same_year][1]
    assert rows[m3_new_year][1] == rows[m3_same_year][1]
    assert len({rows[start][1] for start in pseudonymised}) == 3
    assert not any(pseudonym in BADGES for _, pseudonym in rows.values())

    # The next runs (daily, then weeks later) find nothing more to do in 2021.
    with sessions.begin() as session:
        again = apply_retention(session, utc(2026, 12, 15, 10), sessions_retention_years=5)
    assert again.sessions_pseudonymised == 0
    with sessions() as session:
        assert sessions_by_start(session) == rows
        after = {year: users_in_year(session, year) for year in (2020, 2021, 2022, 2024)}
        audits = session.scalars(select(AuditEntry.action)).all()
    assert after == before
    assert audits == ["retention", "retention"]


def seed_member_history(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        session.add_all(
            [
                badge_event("e1", utc(2026, 11, 2, 8), "m1", BADGES["m1"]),
                badge_event("e2", utc(2026, 11, 2, 17), "m1", BADGES["m1"]),
                badge_event("e3", utc(2026, 11, 3, 8), None, BADGES["m1"]),  # inactive then
                badge_event("e4", utc(2026, 11, 3, 9), "m2", BADGES["m2"]),
                other_event("e5", utc(2026, 11, 3, 9), "door"),
                stay("m1", utc(2026, 11, 2, 8)),
                stay("m1", utc(2026, 11, 5, 8), site="ydes"),
                stay("m2", utc(2026, 11, 3, 9)),
                RejectedEvent(
                    payload=f'{{"badge": "{BADGES["m1"]}", "seq": -1}}', reason="seq: negative"
                ),
                RejectedEvent(
                    payload=f'{{"badge": "{BADGES["m2"]}", "seq": -1}}', reason="seq: negative"
                ),
                AuditEntry(
                    actor="animator:murat",
                    action="session_closed",
                    site_id="murat",
                    detail={"member_id": "m1", "name": "Firstname1 Lastname1"},
                ),
                AuditEntry(
                    actor="admin",
                    action="badge_enrolled",
                    detail={"badge": BADGES["m1"], "member": {"email": "member1@example.org"}},
                ),
                AuditEntry(
                    actor="admin",
                    action="badge_enrolled",
                    detail={"badge": BADGES["m2"], "member_id": "m2"},
                ),
            ]
        )


def test_export_holds_a_members_personal_data(sessions: sessionmaker[Session]) -> None:
    seed_member_history(sessions)
    with sessions.begin() as session:
        export = export_member(session, "m1", actor="admin")
    export = json.loads(json.dumps(export))  # JSON as it is handed over

    assert export["member"] == {
        "id": "m1", "last_name": "Lastname1", "first_name": "Firstname1",
        "email": "member1@example.org", "address": None, "category": "independent",
        "pass_since": "2021-01-04", "pass_until": None,
        "created_at": export["member"]["created_at"], "updated_at": export["member"]["updated_at"],
    }  # fmt: skip
    assert export["badges"] == [
        {"uid": BADGES["m1"], "active": True, "updated_at": export["badges"][0]["updated_at"]}
    ]
    assert export["badge_holdings"] == [
        {"uid": BADGES["m1"], "held_from": None, "held_until": None}
    ]
    assert [(s["site"], s["start"]) for s in export["sessions"]] == [
        ("murat", "2026-11-02T08:00:00+00:00"),
        ("ydes", "2026-11-05T08:00:00+00:00"),
    ]
    assert [e["id"] for e in export["events"]] == ["e1", "e2", "e3"]
    assert export["events"][0]["badge"] == BADGES["m1"]
    assert [a["action"] for a in export["audit"]] == ["session_closed", "badge_enrolled"]
    assert export["invoice_lines"] == []  # no month closed yet
    with sessions() as session:
        logged = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert logged is not None
    assert (logged.action, logged.actor, logged.detail) == (
        "member_exported", "admin", {"member_id": "m1"}
    )  # fmt: skip


def all_rows_as_text(engine: Engine) -> dict[str, str]:
    """Every row of every table of the database (whatever the models say), as text."""
    texts = {}
    with engine.connect() as connection:
        for table in inspect(connection).get_table_names():
            rows = connection.execute(text(f'SELECT * FROM "{table}"')).all()
            texts[table] = "\n".join(repr(tuple(row)) for row in rows).lower()
    return texts


def test_erasure_leaves_no_personal_data_and_keeps_the_statistics(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    seed_member_history(sessions)
    with sessions.begin() as session:
        export_member(session, "m1", actor="admin")
    m1 = ["m1", "member1@example.org", "lastname1", "firstname1", BADGES["m1"].lower()]
    m2 = ["m2", "member2@example.org", "lastname2", "firstname2", BADGES["m2"].lower()]
    before = all_rows_as_text(engine)
    for needle in m1:  # the check below can see each of them
        assert any(needle in rows for rows in before.values()), needle
    with sessions() as session:
        users_before = users_in_year(session, 2026)

    with sessions.begin() as session:
        result = erase_member(session, "m1", actor="admin")
    assert result.sessions_pseudonymised == 2
    assert (result.badges_deleted, result.events_stripped, result.rejected_deleted) == (1, 3, 1)
    assert result.audit_entries_scrubbed == 3  # session_closed, badge_enrolled, member_exported

    after = all_rows_as_text(engine)
    for table, rows in after.items():
        for needle in m1:
            assert needle not in rows, (table, needle)
    for needle in m2:  # another member's data is untouched
        assert any(needle in rows for rows in after.values()), needle

    with sessions() as session:
        assert users_in_year(session, 2026) == users_before == 2
        pseudonyms = session.scalars(
            select(PresenceSession.pseudonym).where(PresenceSession.member_id.is_(None))
        ).all()
        assert len(pseudonyms) == 2 and len(set(pseudonyms)) == 1
        assert session.scalar(select(func.count()).select_from(Event)) == 5
        stripped = session.get(Event, "e1")
        assert stripped is not None and (stripped.badge, stripped.member_id) == (None, None)
        assert "badge" not in json.loads(stripped.payload)
        assert json.loads(stripped.payload)["access"] == "granted"
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    assert entries[0].detail == {"member_id": ERASED, "name": ERASED}
    assert entries[1].detail == {"badge": ERASED, "member": {"email": ERASED}}
    assert entries[2].detail == {"badge": BADGES["m2"], "member_id": "m2"}
    assert (entries[-1].action, entries[-1].actor) == ("member_erased", "admin")

    with sessions.begin() as session, pytest.raises(UnknownMember):
        export_member(session, "m1")
    with sessions.begin() as session, pytest.raises(UnknownMember):
        erase_member(session, "m1")


# --- a reused badge: a tap with no holder is the holder's only while they held it ---------

#: A card given to m1, taken back, given to m2, moved by the console's own operations.
REUSED = "04E5E5E5E5"


def _step(sessions: sessionmaker[Session], change: str, **kwargs: str) -> None:
    """One operation of the console on the badge."""
    time.sleep(0.01)  # distinct instants, on any clock's resolution
    with sessions.begin() as session:
        if change == "assign":
            assign_badge(session, uid=REUSED, actor="test", **kwargs)
        else:
            revoke_badge(session, uid=REUSED, actor="test")


def _held(sessions: sessionmaker[Session]) -> list[tuple[str, datetime | None, datetime | None]]:
    """Who held the reused badge when, oldest first."""
    with sessions() as session:
        return [
            (h.member_id, h.held_from, h.held_until)
            for h in session.scalars(
                select(BadgeHolding).where(BadgeHolding.uid == REUSED).order_by(BadgeHolding.id)
            )
        ]


def _between(first: datetime, last: datetime) -> datetime:
    return first + (last - first) / 2


def _exported(sessions: sessionmaker[Session], member_id: str) -> list[str]:
    with sessions.begin() as session:
        return [event["id"] for event in export_member(session, member_id)["events"]]


def _audited(sessions: sessionmaker[Session], member_id: str) -> list[tuple[str, str | None]]:
    """The audit entries of their export: action, and whom the entry is about."""
    with sessions.begin() as session:
        audit = export_member(session, member_id)["audit"]
    return [
        (entry["action"], entry["detail"].get("member_id"))
        for entry in audit
        if entry["action"] != "member_exported"
    ]


def test_a_reused_badge_hands_no_one_the_other_holders_taps(
    sessions: sessionmaker[Session],
) -> None:
    before_anyone = utcnow()
    _step(sessions, "assign", member_id="m1")
    _step(sessions, "revoke")
    _step(sessions, "assign", member_id="m2")
    _step(sessions, "revoke")
    (first, since, first_to), (second, second_from, second_to) = _held(sessions)
    assert (first, since, second) == ("m1", None, "m2")  # its first holding: no start
    assert first_to is not None and second_from is not None and second_to is not None
    assert before_anyone < first_to < second_from < second_to
    in_first = _between(before_anyone, first_to)
    with sessions.begin() as session:
        session.add_all(
            [
                # The enrolment tap, before anyone held it: the first holder's.
                badge_event("before-anyone", before_anyone, None, REUSED),
                badge_event("first", in_first, "m1", REUSED),
                # Made while m1 held it, stored with no holder (before 0018, say).
                badge_event("first-late", in_first, None, REUSED),
                # Between the two: someone found it.
                badge_event("lost", _between(first_to, second_from), None, REUSED),
                badge_event("second", _between(second_from, second_to), "m2", REUSED),
                badge_event("second-late", _between(second_from, second_to), None, REUSED),
                badge_event("after-second", second_to + timedelta(minutes=5), None, REUSED),
            ]
        )
    # Each one's time with the card is theirs, no one's between and after.
    assert _exported(sessions, "m2") == ["second", "second-late"]
    assert _exported(sessions, "m1") == ["before-anyone", "first", "first-late"]
    # The badge's audit entries of m1's time are not in m2's export.
    with sessions.begin() as session:  # a lost badge's report names the badge only
        session.add(
            AuditEntry(
                at=in_first, actor="member:m1",
                action="badge_reported_lost", detail={"badge": REUSED},
            )
        )  # fmt: skip
    assert _audited(sessions, "m2") == [("badge_assigned", "m2"), ("badge_revoked", "m2")]
    assert ("badge_reported_lost", None) in _audited(sessions, "m1")

    # Erasing m2 strips their taps only.
    with sessions.begin() as session:
        erase_member(session, "m2")
    with sessions() as session:
        kept = {event.id: event.badge for event in session.scalars(select(Event))}
    assert kept == {
        "before-anyone": REUSED, "first": REUSED, "first-late": REUSED, "lost": REUSED,
        "second": None, "second-late": None, "after-second": REUSED,
    }  # fmt: skip


def test_given_back_to_the_same_member_keeps_their_time(sessions: sessionmaker[Session]) -> None:
    """Revoked (a card thought lost) and given back to the same member: theirs before and
    after, and the days it was revoked are not theirs."""
    before = utcnow()
    _step(sessions, "assign", member_id="m1")
    _step(sessions, "revoke")
    _step(sessions, "assign", member_id="m1")
    (_, _, taken), (_, back, still) = _held(sessions)
    assert taken is not None and back is not None and still is None
    with sessions.begin() as session:
        session.add_all(
            [
                badge_event("kept", _between(before, taken), None, REUSED),
                badge_event("revoked", _between(taken, back), None, REUSED),
                badge_event("back", back + timedelta(seconds=1), None, REUSED),
            ]
        )
    assert _exported(sessions, "m1") == ["kept", "back"]


def test_upgrading_from_0018_leaves_whose_taps_to_the_holdings(
    engine: Engine, sessions: sessionmaker[Session], db_url: str
) -> None:
    """A hub at 0018, whose badges also said when their holder was given them and when it
    was taken back: 0019 drops those two times, the holdings already carrying the periods."""
    lost, found = datetime(2026, 3, 2, 9, tzinfo=UTC), datetime(2026, 3, 4, 9, tzinfo=UTC)
    engine.dispose()
    command.downgrade(alembic_config(db_url), "0018")
    with engine.begin() as connection:
        # The downgrade fills them again from the holdings (first ones: the row's last change).
        row = connection.execute(
            select(BADGES_UNTIL_0018).where(BADGES_UNTIL_0018.c.uid == BADGES["m1"])
        ).one()
        assert (row.assigned_at, row.revoked_at) == (row.updated_at, None)
        # m1 lost the card, m2 was given it two days later.
        connection.execute(
            insert(BADGES_UNTIL_0018),
            [{"uid": REUSED, "member_id": "m2", "active": True, "updated_at": found,
              "assigned_at": found, "revoked_at": None}],
        )  # fmt: skip
        connection.execute(
            insert(cast(Table, BadgeHolding.__table__)),
            [{"uid": REUSED, "member_id": "m1", "held_from": None, "held_until": lost},
             {"uid": REUSED, "member_id": "m2", "held_from": found, "held_until": None}],
        )  # fmt: skip
    engine.dispose()
    migrate(db_url)

    columns = {column["name"] for column in inspect(engine).get_columns("badges")}
    assert columns == {"uid", "member_id", "active", "updated_at"}
    assert _held(sessions) == [("m1", None, lost), ("m2", found, None)]
    with sessions.begin() as session:
        session.add_all(
            [
                badge_event("m1-late", lost - timedelta(hours=1), None, REUSED),
                badge_event("no-ones", lost + timedelta(days=1), None, REUSED),
                badge_event("m2-late", found + timedelta(hours=1), None, REUSED),
            ]
        )
    assert _exported(sessions, "m1") == ["m1-late"]
    assert _exported(sessions, "m2") == ["m2-late"]
