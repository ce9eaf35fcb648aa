"""One place at a time, in the store: after a batch's replays, cut the sessions of its
members where they were seen at another site (the rule: `hub.rules.one_place`).

The cut only touches `end` and `end_reason`; `natural_end`, the end the site's own taps gave
a session, is what the replays work on, so the cut is worked out again from it whenever the
member's sessions or taps change, whatever order the taps arrived in.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, false, or_, select, update
from sqlalchemy.orm import Session

from hub.rules.model import Session as Stay
from hub.rules.model import Tap, utc
from hub.rules.one_place import left_elsewhere
from hub.store.models import Event, PresenceSession
from hub.store.replay import chunks

#: `rules.max_session_h` is at most 48 h, and the closing time comes sooner.
LONGEST_SESSION = timedelta(hours=48)


def _natural_reason(row: Any) -> str | None:
    """How a session ended by its own site's taps (or a person): what `end_reason` says
    when the member was not seen elsewhere."""
    if row.natural_end is None:
        return None
    if row.auto_closed:
        return "auto"
    return "tap" if row.end_event_id is not None else "manual"


def one_place_at_a_time(session: Session, changed_since: Mapping[str, datetime]) -> set[str]:
    """Cut the members' sessions where they were seen at another site (`hub.rules.one_place`),
    from when each member's sessions or taps changed on: two queries and one executemany for
    a batch. A closed final session is never cut again (its taps may be gone). The sites
    where a session's end moved, whose occupancy may have changed."""
    if not changed_since:
        return set()
    members = sorted(changed_since)
    earliest = min(changed_since.values())
    rows: list[Any] = []
    for chunk in chunks(members):
        rows += session.execute(
            select(
                PresenceSession.id,
                PresenceSession.member_id,
                PresenceSession.site_id,
                PresenceSession.start,
                PresenceSession.end,
                PresenceSession.natural_end,
                PresenceSession.auto_closed,
                PresenceSession.end_event_id,
                PresenceSession.end_reason,
                PresenceSession.start_event_id,
            ).where(
                PresenceSession.member_id.in_(chunk),
                # On the (member, start) index: no session lasts longer (rule 4), and one a
                # person made longer is final.
                PresenceSession.start >= earliest - LONGEST_SESSION,
                or_(
                    PresenceSession.natural_end.is_(None),
                    (PresenceSession.natural_end >= earliest) & PresenceSession.final.is_(false()),
                ),
            )
        ).all()
    rows = [
        r
        for r in rows
        if r.natural_end is None or utc(r.natural_end) >= utc(changed_since[r.member_id])
    ]
    if not rows:
        return set()
    taps: dict[str, list[Tap]] = {}
    for chunk in chunks(members):
        for event_id, member_id, site_id, ts in session.execute(
            select(Event.id, Event.member_id, Event.site, Event.ts).where(
                Event.member_id.in_(chunk),
                Event.ts >= min(r.start for r in rows),
                Event.type == "badge",
                Event.outcome.in_(_SEEN),
            )
        ):
            assert member_id is not None  # filtered
            taps.setdefault(member_id, []).append(Tap(event_id, member_id, site_id, ts))
    by_member: dict[str, dict[int, Stay]] = {}
    for r in rows:
        stay = Stay(r.member_id, r.site_id, r.start, r.natural_end)
        by_member.setdefault(r.member_id, {})[r.id] = stay
    opened_by = {r.id: r.start_event_id for r in rows}
    left: dict[int, datetime | None] = {}
    for member_id, stays in by_member.items():
        left |= left_elsewhere(stays, taps.get(member_id, []), opened_by)
    changes = []
    moved: set[str] = set()
    for r in rows:
        seen = left[r.id]
        end, reason = (
            (seen, "elsewhere") if seen is not None else (r.natural_end, _natural_reason(r))
        )
        if (end, reason) != (r.end, r.end_reason):
            changes.append({"row_id": r.id, "new_end": end, "new_end_reason": reason})
            moved.add(r.site_id)
    if changes:
        table = cast(Table, PresenceSession.__table__)
        session.connection().execute(
            update(table)
            .where(table.c.id == bindparam("row_id"))
            .values(end=bindparam("new_end"), end_reason=bindparam("new_end_reason")),
            changes,
        )
    return moved


#: The outcomes of taps that say where the member is (`hub.rules.one_place`).
_SEEN = ("counted", "already_in", "no_open_session")
