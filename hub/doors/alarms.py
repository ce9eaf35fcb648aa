"""Door alarms (`door_forced`, `door_held_open`) and an edge's `outbox_overflow`: stored from
their events by an ingest hook, standing on the board until someone acknowledges them.

Acknowledging keeps who and when (and is audited); the alarm itself is never deleted.

>>> ingest.on_batch.append(record_alarms)                                # doctest: +SKIP
>>> acknowledge(session, alarm_id, actor="user:marie", sites=["murat"])
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.people import audit
from hub.people.users import N_, Invalid
from hub.store.db import insert_ignoring_conflicts
from hub.store.events import NewEvent
from hub.store.models import Alarm, utcnow
from telecentre import wire

#: Standing alarms shown at most (the oldest beyond wait their turn).
SHOWN = 50


@dataclass(frozen=True)
class StandingAlarm:
    id: int
    site_id: str
    device: str
    door: str | None
    kind: str
    at: datetime


def record_alarms(session: Session, new: list[NewEvent]) -> None:
    """An ingest hook: store each new alarm event once (its event id is unique)."""
    rows = [
        {
            "event_id": item.event.id,
            "site_id": item.event.site,
            "device": item.event.device,
            "door": item.event.door,
            "kind": item.event.kind,
            "at": item.event.ts,
            "received_at": utcnow(),
        }
        for item in new
        if isinstance(item.event, wire.AlarmEvent)
    ]
    if rows:
        session.execute(insert_ignoring_conflicts(session, Alarm), rows)


def standing_alarms(session: Session, sites: Collection[str]) -> list[StandingAlarm]:
    """Alarms not acknowledged yet, newest first."""
    rows = session.scalars(
        select(Alarm)
        .where(Alarm.site_id.in_(sorted(sites)), Alarm.acknowledged_at.is_(None))
        .order_by(Alarm.at.desc(), Alarm.id.desc())
        .limit(SHOWN)
    )
    return [StandingAlarm(a.id, a.site_id, a.device, a.door, a.kind, a.at) for a in rows]


def acknowledge(session: Session, alarm_id: int, *, actor: str, sites: Collection[str]) -> Alarm:
    """Mark an alarm of one of `sites` seen; an alarm of another site is as if absent."""
    alarm = session.get(Alarm, alarm_id, with_for_update=True)
    if alarm is None or alarm.site_id not in sites:
        raise Invalid("alarm", N_("there is no such alarm"))
    if alarm.acknowledged_at is None:
        alarm.acknowledged_at = utcnow()
        alarm.acknowledged_by = actor
        audit.record(
            session,
            actor,
            "alarm_acknowledged",
            site=alarm.site_id,
            alarm=alarm.id,
            kind=alarm.kind,
            door=alarm.door,
            device=alarm.device,
            at=alarm.at.isoformat(),
        )
    return alarm
