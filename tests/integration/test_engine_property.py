"""The presence engine on both databases against the rules, as a property (issue 13): for
any taps of a member at two sites, any arrival order and any split into batches, the
stored sessions and outcomes equal one walk of every tap, and a session still opened by the
same tap keeps its id from batch to batch, whether each batch's event rows are written
before the engine runs or held until it has set their outcomes (as ingest does). What the
engine reads from SQL (each member's bound, the sessions before it, the taps at every site)
is checked here, beyond the plan's own property (tests/unit/test_replay.py)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from hub.people.imports import import_members, import_sites
from hub.people.sites import load_sites
from hub.presence.engine import Presence
from hub.rules.model import Tap, utc
from hub.rules.presence import walk
from hub.store.events import Incoming, store_events, write_held
from hub.store.models import DeviceMark, Event, EventId, PresenceSession
from telecentre import wire
from tests.unit.test_presence import DIRECTIONS, START, tap_lists

EVERY_DAY = {day: ["08:30-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}
SITES = f"""\
sites:
  - {{id: murat, name: Murat, opening: {EVERY_DAY}}}
  - {{id: ydes, name: Ydes, opening: {EVERY_DAY}}}
"""
MEMBERS = (
    "member_id,last_name,first_name,email,category,pass_since,pass_until,badges\n"
    "m1,Durand,Anne,,independent,,,04A2B3C4\n"
)
NOW = START + timedelta(days=5)


def line(tap: Tap) -> bytes:
    event = wire.badge_event(
        site=tap.site,
        device=f"{tap.site}-door",
        badge="04A2B3C4",
        reader="entrance",
        direction=tap.direction,
        access="granted",
        clock_synced=True,
    )
    return wire.encode(event | {"id": tap.event_id, "ts": tap.ts.isoformat(), "seq": 0})


Row = tuple[str, datetime, datetime | None, bool, str | None]


def stored(session: Session) -> dict[int, tuple[str | None, Row]]:
    return {
        row.id: (
            row.start_event_id,
            (
                row.site_id,
                utc(row.start),
                row.end and utc(row.end),
                row.auto_closed,
                row.end_reason,
            ),
        )
        for row in session.scalars(select(PresenceSession))
    }


@settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(taps=tap_lists(), data=st.data())
def test_the_stored_sessions_are_one_walk_of_every_tap_whatever_the_arrival(
    sessions: sessionmaker[Session], taps: list[Tap], data: st.DataObject
) -> None:
    with sessions.begin() as session:
        for table in (PresenceSession, Event, EventId, DeviceMark):
            session.execute(delete(table))
        if not load_sites(session, {"murat"}):
            import_sites(session, SITES)
            import_members(session, MEMBERS)
        rules = load_sites(session, {"murat", "ydes"})
    ids_ = data.draw(st.lists(st.uuids(), min_size=len(taps), max_size=len(taps), unique=True))
    placed = [
        replace(
            tap,
            event_id=str(event_id),
            site=data.draw(st.sampled_from(["murat", "ydes"])),
            direction=data.draw(st.sampled_from(DIRECTIONS)),
        )
        for tap, event_id in zip(taps, ids_, strict=True)
    ]
    order = data.draw(st.permutations(placed))
    sizes = data.draw(st.lists(st.integers(1, 4), max_size=len(order)))
    # Held: the rows of the batch's events wait for their outcomes, as ingest stores them.
    hold = data.draw(st.booleans())
    presence = Presence(clock=lambda: NOW, events_retention_days=400)
    start = 0
    ids: dict[str | None, int] = {}
    for size in [*sizes, len(order)]:
        batch = order[start : start + size]
        start += len(batch)
        if not batch:
            continue
        with sessions.begin() as session:
            received = NOW + timedelta(minutes=1)
            incoming = [Incoming(line(t), None, received) for t in batch]
            result = store_events(session, incoming, hold=hold)
            presence.apply(session, result.new)
            write_held(session)
        with sessions() as session:
            now_stored = stored(session)
        for row_id, (opener, _) in now_stored.items():
            assert ids.get(opener, row_id) == row_id, "a session changed its id"
        ids = {opener: row_id for row_id, (opener, _) in now_stored.items()}
    full = walk(placed, rules, now=NOW)
    expected = sorted(
        (
            w.session.site,
            utc(w.session.start),
            w.session.end and utc(w.session.end),
            w.session.auto_closed,
            w.end_reason,
        )
        for w in full.sessions
    )
    with sessions() as session:
        assert sorted(row for _, row in stored(session).values()) == expected
        outcomes = {
            id_: outcome for id_, outcome in session.execute(select(Event.id, Event.outcome))
        }
    assert outcomes == full.outcomes


def test_held_rows_are_written_by_the_commit_and_forgotten_by_a_rollback(
    sessions: sessionmaker[Session],
) -> None:
    """A caller that forgets `write_held` loses no event (its id is already stored, so a
    redelivery would be a duplicate of nothing); one that rolls back stores neither."""
    dropped, kept = (str(uuid.uuid4()) for _ in range(2))
    with sessions() as session:
        for table in (Event, EventId, DeviceMark):
            session.execute(delete(table))
        session.commit()
        for n, event_id in enumerate((dropped, kept), start=1):
            tap = Tap(event_id, "m1", "murat", START + timedelta(hours=n), "in")
            store_events(session, [Incoming(line(tap), None, NOW)], hold=True)
            if event_id == dropped:
                session.rollback()
        session.commit()
    with sessions() as session:
        assert session.scalars(select(Event.id)).all() == [kept]
        assert session.scalars(select(EventId.id)).all() == [kept]
