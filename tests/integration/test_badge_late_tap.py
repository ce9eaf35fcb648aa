"""A reused badge's tap made while its previous holder held it, but stored after the badge was
given to someone else (a door offline meanwhile), is nobody's: never the new holder's tap,
session or export."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.store.events import Incoming, store_events
from hub.store.models import Event
from telecentre import wire
from tests.integration.test_retention import REUSED, _between, _exported, _step, engine, sessions

__all__ = ["engine", "sessions"]


def test_a_late_tap_of_the_previous_holder_is_not_the_new_holders(
    sessions: sessionmaker[Session],
) -> None:
    given_to_first = _step(sessions, "assign", member_id="m1")
    taken_from_first = _step(sessions, "revoke")
    assert taken_from_first.revoked_at is not None
    made_at = _between(given_to_first.assigned_at, taken_from_first.revoked_at)
    _step(sessions, "assign", member_id="m2")
    # m1's tap, while m1 held the badge, reaching the hub only now (the door was offline).
    tap = wire.badge_event(
        site="murat", device="murat-door", badge=REUSED, reader="entrance",
        direction="toggle", access="granted", clock_synced=True,
    ) | {"seq": 1, "ts": made_at.isoformat(timespec="milliseconds")}  # fmt: skip
    with sessions.begin() as session:
        store_events(session, [Incoming(wire.encode(tap))])
    with sessions() as session:
        holder = session.scalar(select(Event.member_id).where(Event.id == tap["id"]))
    assert holder != "m2", "m1's tap was stored as m2's"
    assert tap["id"] not in _exported(sessions, "m2"), "m2's export holds m1's tap"
