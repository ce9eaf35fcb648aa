"""A badge handed on from one member to another (CNIL: a member's export holds their data,
and only theirs): a tap stored with no holder is the badge's holder's only between its
giving and its taking back. The badge is moved by the console's own operations."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session, sessionmaker

from hub.doors.enrolment import assign_badge, revoke_badge
from hub.presence.retention import erase_member, export_member
from hub.store import make_engine, make_sessionmaker, migrate
from hub.store.migrations import alembic_config
from hub.store.models import Badge, Event, Member, Site

UID = "04A1A1A1A1"


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
        for member_id, name in (("anne", "Anne"), ("bruno", "Bruno")):
            session.add(
                Member(id=member_id, last_name="Test", first_name=name, category="independent")
            )
    return maker


def tap(event_id: str, ts: datetime, member_id: str | None) -> Event:
    payload = {"v": 1, "id": event_id, "type": "badge", "site": "murat", "device": "murat-door",
               "seq": 1, "ts": ts.isoformat(), "clock_synced": True, "badge": UID,
               "reader": "entrance", "direction": "toggle", "access": "granted"}  # fmt: skip
    return Event(
        id=event_id, site="murat", device="murat-door", seq=1, type="badge", ts=ts,
        ts_offset_min=60, clock_synced=True, badge=UID, member_id=member_id,
        reader="entrance", access="granted", direction="toggle", payload=json.dumps(payload),
    )  # fmt: skip


def _step(sessions: sessionmaker[Session], change: str, **kwargs: str) -> Badge:
    """One operation of the console on the badge, and the badge as it is after it."""
    time.sleep(0.01)  # distinct instants, on any clock's resolution
    with sessions.begin() as session:
        if change == "assign":
            assign_badge(session, uid=UID, actor="test", **kwargs)
        else:
            revoke_badge(session, uid=UID, actor="test")
    with sessions() as session:
        badge = session.get(Badge, UID)
        assert badge is not None
        session.expunge(badge)
        return badge


def _between(first: datetime, last: datetime) -> datetime:
    return first + (last - first) / 2


def _exported(sessions: sessionmaker[Session], member_id: str) -> list[str]:
    with sessions.begin() as session:
        return [event["id"] for event in export_member(session, member_id)["events"]]


def test_a_reused_badge_hands_no_one_the_other_holders_taps(
    sessions: sessionmaker[Session],
) -> None:
    given_to_anne = _step(sessions, "assign", member_id="anne")
    taken_from_anne = _step(sessions, "revoke")
    given_to_bruno = _step(sessions, "assign", member_id="bruno")
    taken_from_bruno = _step(sessions, "revoke")
    anne_from, anne_to = given_to_anne.assigned_at, taken_from_anne.revoked_at
    bruno_from, bruno_to = given_to_bruno.assigned_at, taken_from_bruno.revoked_at
    assert anne_to is not None and bruno_to is not None
    assert anne_from < anne_to < bruno_from < bruno_to
    assert given_to_anne.revoked_at is None and given_to_bruno.revoked_at is None
    with sessions.begin() as session:
        session.add_all(
            [
                tap("before-anyone", anne_from - timedelta(minutes=5), None),  # enrolment tap
                tap("anne", _between(anne_from, anne_to), "anne"),
                # Made while Anne held it, stored after it was taken back (a door offline).
                tap("anne-late", _between(anne_from, anne_to), None),
                tap("lost", _between(anne_to, bruno_from), None),  # someone found it
                tap("bruno", _between(bruno_from, bruno_to), "bruno"),
                tap("bruno-late", _between(bruno_from, bruno_to), None),
                tap("after-bruno", bruno_to + timedelta(minutes=5), None),
            ]
        )
    # Bruno holds the (revoked) badge now: only his own time is his.
    assert _exported(sessions, "bruno") == ["bruno", "bruno-late"]
    assert _exported(sessions, "anne") == ["anne"]  # the badge is no longer hers at all

    # Erasing Bruno strips his taps only.
    with sessions.begin() as session:
        erase_member(session, "bruno")
    with sessions() as session:
        kept = {event.id: event.badge for event in session.query(Event).order_by(Event.id).all()}
    assert kept == {
        "before-anyone": UID, "anne": UID, "anne-late": UID, "lost": UID,
        "bruno": None, "bruno-late": None, "after-bruno": UID,
    }  # fmt: skip


def test_given_back_to_the_same_member_keeps_their_time(sessions: sessionmaker[Session]) -> None:
    """Revoked (a card thought lost) and given back to the same member: still theirs since
    the first giving, and the days it was revoked are not theirs."""
    given = _step(sessions, "assign", member_id="anne")
    taken = _step(sessions, "revoke")
    back = _step(sessions, "assign", member_id="anne")
    assert taken.revoked_at is not None
    assert back.assigned_at == given.assigned_at and back.revoked_at is None
    with sessions.begin() as session:
        session.add(tap("kept", _between(given.assigned_at, taken.revoked_at), None))
    assert _exported(sessions, "anne") == ["kept"]


def _downgrade(url: str, revision: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            config = alembic_config(url)
            config.attributes["connection"] = connection
            command.downgrade(config, revision)
    finally:
        engine.dispose()


def test_existing_badges_get_the_holders_first_tap_or_their_last_change(
    engine: Engine, sessions: sessionmaker[Session], db_url: str
) -> None:
    """Badges of a hub from before migration 0015, where no giving was recorded."""
    day = datetime(2026, 3, 2, 9, tzinfo=UTC)
    with sessions.begin() as session:
        session.add_all(
            [
                Badge(uid=UID, member_id="anne"),  # used: from her first tap
                Badge(uid="04B2B2B2B2", member_id="bruno"),  # never used: its last change
                Badge(uid="04C3C3C3C3", member_id="bruno", active=False),  # taken back then
                tap("enrolment", day, None),
                tap("first", day + timedelta(days=1), "anne"),
                tap("second", day + timedelta(days=2), "anne"),
            ]
        )
    changed = {UID: day + timedelta(days=5), "04B2B2B2B2": day, "04C3C3C3C3": day}
    with sessions.begin() as session:
        for uid, at in changed.items():
            session.execute(update(Badge).where(Badge.uid == uid).values(updated_at=at))
    engine.dispose()
    _downgrade(db_url, "0014")
    migrate(db_url)
    with sessions() as session:
        held = {
            badge.uid: (badge.assigned_at, badge.revoked_at) for badge in session.query(Badge).all()
        }
    assert held == {
        UID: (day + timedelta(days=1), None),
        "04B2B2B2B2": (day, None),
        "04C3C3C3C3": (day, day),
    }
    assert _exported(sessions, "anne") == ["first", "second"]
