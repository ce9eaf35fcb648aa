"""The stored events as a person looks for them ("where is my tap?"), and applying or
dismissing a quarantined tap deliberately (docs/rules.md, Quarantine).

Every badge event says what the hub made of it (`outcome`, `outcome_reason`): the API, the
CLI and the console read them here.

>>> with sessionmaker() as session:                                     # doctest: +SKIP
...     page = list_events(session, sites=["murat"], status="quarantined")
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, get_args

from sqlalchemy import ColumnElement, and_, func, select, true
from sqlalchemy.orm import Session

from hub.rules.presence import Outcome
from hub.store.events import NewEvent, OnBatch, holder_at
from hub.store.models import AuditEntry, Event, utcnow
from telecentre import wire

#: The outcomes a listing can filter on (`status`).
STATUSES: tuple[str, ...] = get_args(Outcome)


class CannotApply(ValueError):
    """The event cannot be applied: the sentence says why."""


@dataclass(frozen=True)
class EventRow:
    id: str
    site: str
    device: str
    type: str
    ts: datetime
    received_at: datetime
    clock_synced: bool
    badge: str | None
    member_id: str | None
    direction: str | None
    access: str | None
    outcome: str | None
    outcome_reason: str | None


@dataclass(frozen=True)
class EventPage:
    rows: list[EventRow]
    total: int
    next_offset: int | None


def list_events(
    session: Session,
    *,
    sites: Collection[str] | None = None,
    member: str | None = None,
    badge: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 1000,
    offset: int = 0,
) -> EventPage:
    """One page of events, newest first (by `ts`, then id: a stable order for paging).
    `sites` None means every site; `since` is included and `until` excluded."""
    conditions: list[ColumnElement[bool]] = []
    if sites is not None:
        conditions.append(Event.site.in_(sorted(sites)))
    if member is not None:
        conditions.append(Event.member_id == member)
    if badge is not None:
        conditions.append(Event.badge == badge)
    if status is not None:
        conditions.append(Event.outcome == status)
    if since is not None:
        conditions.append(Event.ts >= since)
    if until is not None:
        conditions.append(Event.ts < until)
    where = and_(true(), *conditions)
    total = session.scalar(select(func.count()).select_from(Event).where(where)) or 0
    rows = [
        EventRow(
            e.id,
            e.site,
            e.device,
            e.type,
            e.ts,
            e.received_at,
            e.clock_synced,
            e.badge,
            e.member_id,
            e.direction,
            e.access,
            e.outcome,
            e.outcome_reason,
        )
        for e in session.scalars(
            select(Event)
            .where(where)
            .order_by(Event.ts.desc(), Event.id)
            .limit(limit)
            .offset(offset)
        )
    ]
    return EventPage(rows, total, offset + limit if offset + limit < total else None)


def count_quarantined(session: Session) -> int:
    """Taps kept but not applied, for the health check and the metrics."""
    return session.scalar(select(func.count()).where(Event.outcome == "quarantined")) or 0


def apply_quarantined(
    session: Session, event_id: str, *, actor: str, presence: Sequence[OnBatch]
) -> Event:
    """Apply a quarantined tap as stamped, skipping the arrival checks (a clock an admin
    knows was right): the `presence` hooks replay its member × site. A tap at or before a
    final session cannot be applied (a final session is never rewritten): it stays
    quarantined and `CannotApply` says to correct the session by hand. Audited as
    `event_applied`; in the caller's transaction."""
    row = session.get(Event, event_id)
    if row is None:
        raise LookupError(event_id)
    if row.outcome != "quarantined":
        raise CannotApply(f"event {event_id} is not quarantined (outcome: {row.outcome})")
    if row.outcome_reason == "final_session":
        raise CannotApply(
            f"event {event_id} is dated at or before a final session of its member there, "
            "which no tap may rewrite: correct the session by hand instead"
        )
    event = wire.parse_event(row.payload)
    reason = row.outcome_reason
    # Its holder at its stamp, now trusted: the badge may have changed hands meanwhile.
    row.member_id = holder_at(session, row.badge, row.ts)
    row.outcome, row.outcome_reason = None, None
    session.flush()
    batch = [NewEvent(event, row.member_id, row.received_at, trusted=True)]
    for hook in presence:
        hook(session, batch)
    session.refresh(row)
    _audit(
        session,
        "event_applied",
        row,
        actor,
        before={"outcome": "quarantined", "reason": reason},
        after={"outcome": row.outcome, "reason": row.outcome_reason},
    )
    return row


def _audit(session: Session, action: str, row: Event, actor: str, **detail: Any) -> None:
    """A person's decision on a quarantined tap, in the audit log: which tap, whose, when
    stamped (never its badge), and `detail`."""
    session.add(
        AuditEntry(
            at=utcnow(),
            actor=actor,
            action=action,
            site_id=row.site,
            detail={
                "event_id": row.id,
                "member_id": row.member_id,
                "ts": row.ts.isoformat(),
                **detail,
            },
        )
    )


def dismiss_quarantined(session: Session, event_id: str, *, actor: str) -> None:
    """Delete a quarantined tap a person decided not to apply (a Pi's clock they know was
    wrong, a test badge). Its id stays known, so a redelivery is still a duplicate
    (`hub.store.events`); the audit entry (`event_dismissed`) keeps when, where and whose it
    was, not its badge. Raises `LookupError` if there is no such event, `CannotApply` if it is
    not quarantined; in the caller's transaction."""
    row = session.get(Event, event_id)
    if row is None:
        raise LookupError(event_id)
    if row.outcome != "quarantined":
        raise CannotApply(f"event {event_id} is not quarantined (outcome: {row.outcome})")
    _audit(
        session,
        "event_dismissed",
        row,
        actor,
        received_at=row.received_at.isoformat(),
        reason=row.outcome_reason,
    )
    session.delete(row)
    session.flush()
