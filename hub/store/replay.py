"""What a replay reads from the store: each member × site's sessions and counted taps from
a bound on, for a whole ingest batch in a constant number of queries (`hub/presence/engine.py`
plans and writes; `hub.rules.replay` decides).

A batch is replayed with a constant number of queries, not a few per member × site: the
sessions and taps that can matter are read for all its pairs at once, the rules run in
Python, and only the rows that differ are deleted and inserted.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any, TypeVar, TypeVarTuple, cast

from sqlalchemy import (
    CTE,
    BindParameter,
    ColumnElement,
    Select,
    SQLColumnExpression,
    bindparam,
    func,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Session, aliased

from hub.rules.model import Direction, Tap, utc
from hub.rules.model import Session as Stay
from hub.rules.replay import StoredSession
from hub.store.models import Event, Member, PresenceSession, UtcDateTime

_T = TypeVar("_T")
_Ts = TypeVarTuple("_Ts")

#: A member × site: `(member_id, site_id)`.
Pair = tuple[str, str]

#: Before any tap: the bound of "every tap, every session" in the replay queries.
_DAWN = datetime(1, 1, 1, tzinfo=UTC)
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


def _not_indexed(column: SQLColumnExpression[str]) -> ColumnElement[str]:
    """The same string, as an expression no index can look up (`|| ''`).

    For the site of a member × site: SQLite has no statistics unless ANALYZE runs, and
    between the (site, time) and (member, time) indexes it takes the site's, which scans the
    whole site's history where the member's holds a few rows.
    """
    return column.concat("")


#: The stored taps (events) that carry each pair's (member, site, first new tap time) into
#: SQL, where a list of values would not work on SQLite and PostgreSQL alike.
_DRIVER = aliased(Event, name="driver")
#: The ids of the drivers: an IN list of any length for one statement built once.
_DRIVERS: BindParameter[list[str]] = bindparam("drivers", expanding=True)


def _replay_bound(*, replay_all: bool) -> ColumnElement[datetime]:
    """In SQL, for a driver's pair: the start of its last stored session at or before the
    driver tap, or the dawn of time if it has none (or with `replay_all`: no debounce).

    Every restart point `replay_from` can give is at or after it, so the sessions and the
    taps from there on are all a replay needs; the few extra ones are filtered in Python.
    """
    if replay_all:  # `replay_from` always says: from the first tap
        return literal(_DAWN, UtcDateTime())
    last = aliased(PresenceSession, name="last")
    start = (
        select(last.start)
        .where(
            last.member_id == _DRIVER.member_id,
            _not_indexed(last.site_id) == _DRIVER.site,
            last.start <= _DRIVER.ts,
        )
        .order_by(last.start.desc())
        .limit(1)
        .correlate(_DRIVER)
        .scalar_subquery()
    )
    return func.coalesce(start, literal(_DAWN, UtcDateTime()))


def _bounds(*, replay_all: bool) -> CTE:
    """Each driver's pair and its `_replay_bound` (`since`), computed once per pair.

    MATERIALIZED on PostgreSQL: inlined, its planner would run the bound's subquery for every
    candidate row of the join instead of once per pair.
    """
    return (
        select(
            _DRIVER.member_id,
            _DRIVER.site,
            _replay_bound(replay_all=replay_all).label("since"),
        )
        .where(_DRIVER.id.in_(_DRIVERS))
        .cte("bounds")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )


def _per_pair(query: Select[*_Ts], bounds: CTE, *, lateral: bool) -> Select[*_Ts]:
    """`query` (rows of a table joined to `_bounds` in its WHERE) as one lookup per pair.

    On PostgreSQL a LATERAL join makes it so whatever the planner's statistics: on a fresh
    store it has none yet, and would scan the whole table once for every pair.
    """
    if not lateral:
        return query
    # OFFSET 0 keeps PostgreSQL from flattening the LATERAL subquery into a plain join.
    rows = query.correlate(bounds).offset(0).lateral("per_pair")
    joined = select(*rows.c).select_from(bounds).join(rows, true())
    return cast("Select[*_Ts]", joined)


@cache
def _stored_query(*, replay_all: bool, lateral: bool) -> Select[*tuple[Any, ...]]:
    """The stored sessions from `_replay_bound` on of the drivers' pairs."""
    bounds = _bounds(replay_all=replay_all)
    query = select(
        PresenceSession.id,
        PresenceSession.member_id,
        PresenceSession.site_id,
        PresenceSession.start,
        PresenceSession.natural_end,
        PresenceSession.auto_closed,
        PresenceSession.start_event_id,
        PresenceSession.end_event_id,
        PresenceSession.final,
    ).where(
        PresenceSession.member_id == bounds.c.member_id,
        _not_indexed(PresenceSession.site_id) == bounds.c.site,
        PresenceSession.start >= bounds.c.since,
    )
    return _per_pair(query, bounds, lateral=lateral)


@cache
def _taps_query(
    *, replay_all: bool, lateral: bool
) -> Select[str, str | None, str, datetime, str | None, str | None]:
    """The counted taps (rule 1) from `_replay_bound` on of the drivers' pairs, with their
    outcome (quarantined ones included: the caller leaves them out)."""
    bounds = _bounds(replay_all=replay_all)
    query = select(
        Event.id, Event.member_id, Event.site, Event.ts, Event.direction, Event.outcome
    ).where(
        Event.member_id == bounds.c.member_id,
        _not_indexed(Event.site) == bounds.c.site,
        Event.ts >= bounds.c.since,
        Event.type == "badge",
        Event.access == "granted",
    )
    return _per_pair(query, bounds, lateral=lateral)


def _lateral(session: Session) -> bool:
    """SQLite has no LATERAL, and without statistics its planner does the right thing."""
    return session.get_bind().dialect.name == "postgresql"


def stored_since_bound(
    session: Session, drivers: Sequence[str], *, debounce_s: float
) -> dict[Pair, list[StoredSession]]:
    """The stored sessions from `_replay_bound` on of the pairs of the `drivers` (the ids of
    their first new taps, stored by this batch), in start order: one query for a batch."""
    query = _stored_query(replay_all=debounce_s <= 0, lateral=_lateral(session))
    found: dict[Pair, list[StoredSession]] = {}
    for chunk in chunks(drivers):
        for row in session.execute(query, {"drivers": list(chunk)}):
            id_, member_id, site_id, start, end, auto, opened_by, closed_by, final = row
            assert member_id is not None  # joined on it
            stay = Stay(member_id, site_id, start, end, auto)
            stored = StoredSession(id_, stay, final, opened_by, closed_by)
            found.setdefault((member_id, site_id), []).append(stored)
    for rows_of_pair in found.values():
        rows_of_pair.sort(key=lambda row: (utc(row.session.start), row.id))
    return found


def taps_since_bound(
    session: Session, drivers: Sequence[str], *, debounce_s: float
) -> tuple[dict[Pair, list[Tap]], dict[str, str | None]]:
    """The counted taps (rule 1) not in quarantine from `_replay_bound` on of the pairs of
    the `drivers`, and the outcome each has now: one query for a batch, like
    `stored_since_bound`."""
    query = _taps_query(replay_all=debounce_s <= 0, lateral=_lateral(session))
    found: dict[Pair, list[Tap]] = {}
    outcomes: dict[str, str | None] = {}
    for chunk in chunks(drivers):
        for event_id, member_id, site_id, ts, direction, outcome in session.execute(
            query, {"drivers": list(chunk)}
        ):
            assert member_id is not None  # joined on it
            if outcome == "quarantined":
                continue
            tap = Tap(event_id, member_id, site_id, ts, _direction(direction))
            found.setdefault((member_id, site_id), []).append(tap)
            outcomes[event_id] = outcome
    return found, outcomes


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
