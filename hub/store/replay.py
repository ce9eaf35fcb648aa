"""What a replay reads from the store: each member's sessions and counted taps (at all their
sites) from a bound on, for a whole ingest batch in a constant number of statements
(`hub/presence/engine.py` plans and writes; `hub.rules.replay` decides).

A batch is replayed with a constant number of statements, not a few per member: the
sessions and taps that can matter are read for all its members at once, each from its own
bound, the rules run in Python, and only the rows that differ are written.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import CTE, Select, String, bindparam, or_, select, true, union_all
from sqlalchemy.orm import Session

from hub.rules.model import Direction, Tap, utc
from hub.rules.model import Session as Stay
from hub.rules.replay import StoredSession
from hub.store.models import RULE_COLUMNS, Event, Member, PresenceSession, UtcDateTime

_T = TypeVar("_T")

#: A member × site: `(member_id, site_id)`.
Pair = tuple[str, str]

#: Ids per IN list, well under SQLite's and PostgreSQL's limits on bound parameters.
CHUNK = 5000

#: Counted taps (rule 1) not in quarantine.
_APPLIED = or_(Event.outcome.is_(None), Event.outcome != "quarantined")


def lock_members(session: Session, member_ids: Iterable[str]) -> None:
    """Serialise the recomputes of one member between hub processes (PostgreSQL).

    In id order, so two processes cannot deadlock; `FOR NO KEY UPDATE`, so events that merely
    refer to the member are still inserted meanwhile. SQLite has one writer anyway, and its
    SELECT locks nothing: the query is not even sent there (every batch would pay for it).
    """
    if session.get_bind().dialect.name == "sqlite":
        return
    session.execute(
        select(Member.id)
        .where(Member.id.in_(sorted(set(member_ids))))
        .order_by(Member.id)
        .with_for_update(key_share=True)
    ).all()


def chunks(values: Sequence[_T]) -> Iterator[Sequence[_T]]:
    """`values` in slices short enough for an IN list."""
    for first in range(0, len(values), CHUNK):
        yield values[first : first + CHUNK]


def _direction(value: str | None) -> Direction:
    return "in" if value == "in" else "out" if value == "out" else "toggle"


#: `rules.max_session_h` is at most 48 h, and the closing time comes sooner: a session a tap
#: made that is still open, or ends, at an instant started at most this long before it.
LONGEST_SESSION = timedelta(hours=48)
#: Members per statement: three bound parameters each in `_bounds`, one SELECT each in its
#: UNION ALL (SQLite takes up to 500). Compiling the statements costs in proportion to it, once
#: per process and size: at 256 a command importing a year (230 members) spent 0.19 s
#: compiling, at 32 it spends 0.03 s, and reads the same rows in eight statements as fast.
_MEMBERS = 32


def _bounds(size: int) -> CTE:
    """`size` members' bounds as a table (`m0`, `s0`, `r0`…: the member, its bound, and the
    longest session before it), joined in the statements below: one statement for a batch
    whatever its members, each read from its own bound on.

    A UNION ALL of bound parameters, so that each statement is compiled once per size
    (powers of two, padded) and then taken from SQLAlchemy's cache: a VALUES list is
    compiled again at every execution.
    """
    rows = [
        select(
            bindparam(f"m{n}", type_=String).label("member_id"),
            bindparam(f"s{n}", type_=UtcDateTime()).label("since"),
            bindparam(f"r{n}", type_=UtcDateTime()).label("reach"),
        )
        for n in range(size)
    ]
    return (rows[0] if size == 1 else union_all(*rows)).cte("bounds")


@cache
def _statements(size: int) -> tuple[Select[*tuple[Any, ...]], ...]:
    """The sessions from the longest session before each bound on, the final sessions still
    open or ending after it (a person may have made one longer: they are few), and the
    counted taps from it on."""
    bounds = _bounds(size)
    by_start = select(*_SESSION_COLUMNS).join(
        bounds,
        (PresenceSession.member_id == bounds.c.member_id)
        & (PresenceSession.start >= bounds.c.reach),
    )
    finals = select(*_SESSION_COLUMNS).join(
        bounds,
        (PresenceSession.member_id == bounds.c.member_id)
        & PresenceSession.final.is_(true())
        & or_(PresenceSession.end.is_(None), PresenceSession.end >= bounds.c.since),
    )
    taps = (
        select(Event.id, Event.member_id, Event.site, Event.ts, Event.direction, Event.outcome)
        .join(bounds, (Event.member_id == bounds.c.member_id) & (Event.ts >= bounds.c.since))
        .where(Event.type == "badge", Event.access == "granted")
    )
    return by_start, finals, taps


def _parameters(chunk: Sequence[tuple[str, datetime]]) -> dict[str, Any]:
    size = 1 << max(len(chunk) - 1, 0).bit_length()
    padded = [*chunk, *[("", _NEVER)] * (size - len(chunk))]
    parameters: dict[str, Any] = {}
    for n, (member_id, since) in enumerate(padded):
        parameters |= {f"m{n}": member_id, f"s{n}": since, f"r{n}": since - LONGEST_SESSION}
    return parameters


#: The bound of the padding rows, whose member (`""`) has no rows.
_NEVER = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass
class MemberRows:
    """What a replay of one member reads (`hub.rules.replay.plan_member`)."""

    sessions: list[StoredSession] = field(default_factory=list)
    #: Counted taps (rule 1) not in quarantine, at every site, and their outcome so far.
    taps: list[Tap] = field(default_factory=list)
    outcomes: dict[str, str | None] = field(default_factory=dict)


def rows_since(session: Session, bounds: Mapping[str, datetime]) -> dict[str, MemberRows]:
    """For each member, the stored sessions still open or ending at or after their bound or
    starting after it, and their counted taps from it on: three statements for a batch,
    whatever its members, on the (member, start) and (member, ts) indexes."""
    found = {member_id: MemberRows() for member_id in bounds}
    ordered = sorted(bounds.items())
    for first in range(0, len(ordered), _MEMBERS):
        chunk = ordered[first : first + _MEMBERS]
        parameters = _parameters(chunk)
        by_start, finals, taps = _statements(len(parameters) // 3)
        rows = [*session.execute(by_start, parameters), *session.execute(finals, parameters)]
        seen: set[int] = set()
        for id_, member_id, site_id, start, end, auto, opened_by, closed_by, final, reason in rows:
            if id_ in seen or member_id is None:
                continue
            seen.add(id_)
            stay = Stay(member_id, site_id, start, end, auto)
            stored = StoredSession(id_, stay, final, opened_by, closed_by, reason)
            found[member_id].sessions.append(stored)
        for event_id, member_id, site_id, ts, direction, outcome in session.execute(
            taps, parameters
        ):
            if outcome == "quarantined" or member_id is None:
                continue
            rows_of = found[member_id]
            rows_of.taps.append(Tap(event_id, member_id, site_id, ts, _direction(direction)))
            rows_of.outcomes[event_id] = outcome
    for rows_of in found.values():
        rows_of.sessions.sort(key=lambda row: (utc(row.session.start), row.id))
    return found


_SESSION_COLUMNS = (
    PresenceSession.id,
    *RULE_COLUMNS,
    PresenceSession.start_event_id,
    PresenceSession.end_event_id,
    PresenceSession.final,
    PresenceSession.end_reason,
)


#: A stored counted tap, when the hub received it, and its outcome so far (None: never
#: judged, as the taps of a site not imported yet).
StoredTap = tuple[Tap, datetime, str | None]


def counted_taps_of(session: Session, pairs: Collection[Pair]) -> dict[Pair, list[StoredTap]]:
    """Every counted tap (rule 1) of these pairs not in quarantine: one query (chunked by
    member)."""
    wanted = set(pairs)
    members = sorted({member_id for member_id, _ in wanted})
    sites = sorted({site_id for _, site_id in wanted})
    found: dict[Pair, list[StoredTap]] = {pair: [] for pair in wanted}
    for chunk in chunks(members):
        rows = session.execute(
            select(
                Event.id,
                Event.member_id,
                Event.site,
                Event.ts,
                Event.direction,
                Event.received_at,
                Event.outcome,
            ).where(
                Event.member_id.in_(chunk),
                Event.site.in_(sites),
                Event.type == "badge",
                Event.access == "granted",
                _APPLIED,
            )
        )
        for event_id, member_id, site_id, ts, direction, received_at, outcome in rows:
            if member_id is not None and (member_id, site_id) in wanted:
                tap = Tap(event_id, member_id, site_id, ts, _direction(direction))
                found[member_id, site_id].append((tap, received_at, outcome))
    return found
