"""The events calls: `GET /events` (what the hub made of each tap, filtered and paged;
every role, narrowed to the sites its token may see), `POST /events/<id>/apply` and
`POST /events/<id>/dismiss` (an admin applies or deletes a quarantined tap deliberately)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from typing import Any

from flask import Blueprint

from hub.api import params
from hub.api.auth import access, authenticate, sites_for
from hub.api.errors import ApiError
from hub.api.output import instant
from hub.api.services import services
from hub.presence import events
from telecentre import wire

bp = Blueprint("events", __name__)
bp.before_request(authenticate)

DEFAULT_LIMIT = 100
_EVENT_ID_RE = re.compile(wire.EVENT_ID_PATTERN)
MAX_LIMIT = 10_000


def _day_start(name: str, *, next_day: bool = False) -> datetime | None:
    """`from`/`to` as UTC days (events are looked up by their instant, not a site's day)."""
    if params.text(name) is None:
        return None
    day = params.day(name) + (timedelta(days=1) if next_day else timedelta(0))
    return datetime.combine(day, time(), UTC)


def _event(row: events.EventRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "site": row.site,
        "device": row.device,
        "type": row.type,
        "ts": instant(row.ts),
        "received_at": instant(row.received_at),
        "clock_synced": row.clock_synced,
        "badge": row.badge,
        "member_id": row.member_id,
        "direction": row.direction,
        "access": row.access,
        "outcome": row.outcome,
        "outcome_reason": row.outcome_reason,
    }


@bp.get("/events")
def listing() -> dict[str, Any]:
    """Newest first; `status` is an outcome (`quarantined`, `debounced`…); `from` and `to`
    are days (UTC), both included; paged like `/sessions`."""
    params.only("site", "member", "badge", "status", "from", "to", "limit", "offset")
    status = params.text("status")
    if status is not None and status not in events.STATUSES:
        raise params.bad("status", f"'{status}' is not one of {', '.join(events.STATUSES)}")
    since, until = _day_start("from"), _day_start("to", next_day=True)
    if since is not None and until is not None and until <= since:
        raise params.bad("to", "is before 'from'")
    limit = params.whole("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = params.whole("offset", 0, 0, 10**12)
    sites = sites_for(params.site())
    with services().sessions() as session:
        page = events.list_events(
            session,
            sites=sites,
            member=params.member(),
            badge=params.badge(),
            status=status,
            since=since,
            until=until,
            limit=limit,
            offset=offset,
        )
    return {
        "events": [_event(row) for row in page.rows],
        "total": page.total,
        "limit": limit,
        "offset": offset,
        "next": page.next_offset,
    }


@bp.post("/events/<event_id>/apply")
def apply(event_id: str) -> dict[str, Any]:
    if access().role != "admin":
        raise ApiError(403, "applying a quarantined tap needs an admin token")
    if not _EVENT_ID_RE.fullmatch(event_id):
        raise ApiError(404, f"there is no event {event_id!r} (ids match {wire.EVENT_ID_PATTERN})")
    try:
        with services().sessions.begin() as session:
            row = events.apply_quarantined(
                session,
                event_id,
                actor=f"api:{access().name}",
                presence=services().presence_hooks,
            )
            body = {"id": row.id, "outcome": row.outcome, "outcome_reason": row.outcome_reason}
    except LookupError:
        raise ApiError(404, f"there is no event {event_id!r}") from None
    except events.CannotApply as refused:
        raise ApiError(409, str(refused)) from None
    return body


@bp.post("/events/<event_id>/dismiss")
def dismiss(event_id: str) -> dict[str, Any]:
    """Delete a quarantined tap an admin decided not to apply (audited)."""
    if access().role != "admin":
        raise ApiError(403, "dismissing a quarantined tap needs an admin token")
    try:
        with services().sessions.begin() as session:
            events.dismiss_quarantined(session, event_id, actor=f"api:{access().name}")
    except LookupError:
        raise ApiError(404, f"there is no event {event_id!r}") from None
    except events.CannotApply as refused:
        raise ApiError(409, str(refused)) from None
    return {"id": event_id, "dismissed": True}
