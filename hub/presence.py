"""The presence engine: stored badge taps to stored sessions (RULES.md, Presence sessions).

It runs inside each ingest batch's transaction (MQTT and JSON Lines alike), so a batch's
events and the sessions they make are committed together or not at all. The rules are
`hub.rules.presence`; this module only reads taps and sessions and writes sessions.

A late tap re-computes only what it touches: for each member × site with new counted taps,
`replay_from` gives the instant R from which the replay must restart; the sessions starting at
or after R are deleted and made again from the stored taps at or after R. The result is the
same as a recompute from every tap, whatever order the events arrived in.

A batch is replayed with a constant number of queries, not a few per member × site: the
sessions and taps that can matter are read for all its pairs at once, the rules run in
Python, and only the rows that differ are deleted and inserted.

>>> presence = Presence.from_config(config)              # doctest: +SKIP
>>> ingest.on_batch.append(presence.apply)                # doctest: +SKIP
>>> with sessions.begin() as session:                      # every minute or so
...     close_expired_sessions(session, now=utcnow(), max_session_h=12)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any, TypeVar, TypeVarTuple, cast

from sqlalchemy import (
    CTE,
    BindParameter,
    ColumnElement,
    Select,
    SQLColumnExpression,
    Table,
    bindparam,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Session, aliased

from hub.config import HubConfig
from hub.rules.model import Direction, SiteRules, Tap, utc
from hub.rules.model import Session as Stay
from hub.rules.presence import (
    DEFAULT_DEBOUNCE_S,
    DEFAULT_MAX_SESSION_H,
    auto_close_at,
    present_at,
    replay_from,
    sessions_from_taps,
)
from hub.sites import load_sites
from hub.store.events import NewEvent
from hub.store.models import Event, Member, PresenceSession, UtcDateTime, utcnow
from telecentre import wire

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
_T = TypeVar("_T")
_Ts = TypeVarTuple("_Ts")


#: A member × site: `(member_id, site_id)`.
Pair = tuple[str, str]

#: Before any tap: the bound of "every tap, every session" in the replay queries.
_DAWN = datetime(1, 1, 1, tzinfo=UTC)
#: Ids per IN list, well under SQLite's and PostgreSQL's limits on bound parameters.
_CHUNK = 5000


@dataclass(frozen=True)
class FirstTap:
    """A batch's earliest new counted tap of one member × site: where its replay starts."""

    event_id: str
    ts: datetime


def first_taps(new: Iterable[NewEvent]) -> dict[Pair, FirstTap]:
    """The earliest new counted tap (rule 1) of each member × site of a batch."""
    earliest: dict[Pair, FirstTap] = {}
    for item in new:
        event = item.event
        if (
            isinstance(event, wire.BadgeEvent)
            and event.access == "granted"
            and item.member_id is not None
        ):
            key = (item.member_id, event.site)
            known = earliest.get(key)
            if known is None or utc(event.ts) < utc(known.ts):
                earliest[key] = FirstTap(event.id, event.ts)
    return earliest


def tapped_sites(new: Iterable[NewEvent]) -> set[str]:
    """The sites of a batch's new counted taps (rule 1): the keys of `first_taps`, without
    working out which tap is the first."""
    return {
        item.event.site
        for item in new
        if isinstance(item.event, wire.BadgeEvent)
        and item.event.access == "granted"
        and item.member_id is not None
    }


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


def _chunks(values: Sequence[_T]) -> Iterator[Sequence[_T]]:
    for first in range(0, len(values), _CHUNK):
        yield values[first : first + _CHUNK]


@dataclass(frozen=True)
class _Stored:
    """A stored session row, as the replay compares it with the recomputed one."""

    id: int
    member_id: str
    site_id: str
    start: datetime
    end: datetime | None
    auto_closed: bool
    start_event_id: str | None
    end_event_id: str | None

    def stay(self) -> Stay:
        return Stay(self.member_id, self.site_id, self.start, self.end, self.auto_closed)

    def content(self) -> _Content:
        return _content(vars(self))


#: What a session row says, ids of events included: equal content, no need to rewrite it.
_Content = tuple[str, str, datetime, datetime | None, bool, str | None, str | None]


def _content(row: Mapping[str, Any]) -> _Content:
    """Of a row to insert (or a `_Stored`'s fields), times in UTC to compare instants."""
    end = row["end"]
    return (
        row["member_id"],
        row["site_id"],
        utc(row["start"]),
        None if end is None else utc(end),
        row["auto_closed"],
        row["start_event_id"],
        row["end_event_id"],
    )


#: A pair's taps by instant (in UTC), for `_first_tap_at`.
_TapsAt = Mapping[datetime, Sequence[Tap]]


def _taps_at(taps: Iterable[Tap]) -> dict[datetime, list[Tap]]:
    """Taps by instant: a pair's sessions look up their boundary taps without a scan each."""
    found: dict[datetime, list[Tap]] = {}
    for tap in taps:
        found.setdefault(utc(tap.ts), []).append(tap)
    return found


def _first_tap_at(taps: _TapsAt, ts: datetime, directions: tuple[str, ...]) -> str | None:
    """The event that made a session boundary: the rules replay taps in (ts, event_id) order,
    and with a debounce only the first tap at an instant can be counted."""
    candidates = [t.event_id for t in taps.get(utc(ts), ()) if t.direction in directions]
    return min(candidates) if candidates else None


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
def _stored_query(
    *, replay_all: bool, lateral: bool
) -> Select[int, str | None, str, datetime, datetime | None, bool, str | None, str | None]:
    """The stored sessions from `_replay_bound` on of the drivers' pairs."""
    bounds = _bounds(replay_all=replay_all)
    query = select(
        PresenceSession.id,
        PresenceSession.member_id,
        PresenceSession.site_id,
        PresenceSession.start,
        PresenceSession.end,
        PresenceSession.auto_closed,
        PresenceSession.start_event_id,
        PresenceSession.end_event_id,
    ).where(
        PresenceSession.member_id == bounds.c.member_id,
        _not_indexed(PresenceSession.site_id) == bounds.c.site,
        PresenceSession.start >= bounds.c.since,
    )
    return _per_pair(query, bounds, lateral=lateral)


@cache
def _taps_query(
    *, replay_all: bool, lateral: bool
) -> Select[str, str | None, str, datetime, str | None]:
    """The counted taps (rule 1) from `_replay_bound` on of the drivers' pairs."""
    bounds = _bounds(replay_all=replay_all)
    query = select(Event.id, Event.member_id, Event.site, Event.ts, Event.direction).where(
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


def _stored_since_bound(
    session: Session, drivers: Sequence[str], *, debounce_s: float
) -> dict[Pair, list[_Stored]]:
    """The stored sessions from `_replay_bound` on of the pairs of the `drivers` (the ids of
    their first new taps, stored by this batch), in start order: one query for a batch."""
    query = _stored_query(replay_all=debounce_s <= 0, lateral=_lateral(session))
    found: dict[Pair, list[_Stored]] = {}
    for chunk in _chunks(drivers):
        rows = session.execute(query, {"drivers": list(chunk)})
        for id_, member_id, site_id, start, end, auto_closed, opened_by, closed_by in rows:
            assert member_id is not None  # joined on it
            stored = _Stored(id_, member_id, site_id, start, end, auto_closed, opened_by, closed_by)
            found.setdefault((member_id, site_id), []).append(stored)
    for rows_of_pair in found.values():
        rows_of_pair.sort(key=lambda row: utc(row.start))
    return found


def _taps_since_bound(
    session: Session, drivers: Sequence[str], *, debounce_s: float
) -> dict[Pair, list[Tap]]:
    """The counted taps (rule 1) from `_replay_bound` on of the pairs of the `drivers`:
    one query for a batch, like `_stored_since_bound`."""
    query = _taps_query(replay_all=debounce_s <= 0, lateral=_lateral(session))
    found: dict[Pair, list[Tap]] = {}
    for chunk in _chunks(drivers):
        for event_id, member_id, site_id, ts, direction in session.execute(
            query, {"drivers": list(chunk)}
        ):
            assert member_id is not None  # joined on it
            tap = Tap(event_id, member_id, site_id, ts, _direction(direction))
            found.setdefault((member_id, site_id), []).append(tap)
    return found


def _counted_taps_of(session: Session, pairs: Collection[Pair]) -> dict[Pair, list[Tap]]:
    """Every counted tap (rule 1) of these pairs: one query (chunked by member)."""
    wanted = set(pairs)
    members = sorted({member_id for member_id, _ in wanted})
    sites = sorted({site_id for _, site_id in wanted})
    found: dict[Pair, list[Tap]] = {pair: [] for pair in wanted}
    for chunk in _chunks(members):
        rows = session.execute(
            select(Event.id, Event.member_id, Event.site, Event.ts, Event.direction).where(
                Event.member_id.in_(chunk),
                Event.site.in_(sites),
                Event.type == "badge",
                Event.access == "granted",
            )
        )
        for event_id, member_id, site_id, ts, direction in rows:
            if member_id is not None and (member_id, site_id) in wanted:
                tap = Tap(event_id, member_id, site_id, ts, _direction(direction))
                found[member_id, site_id].append(tap)
    return found


@dataclass
class _Rewrite:
    """What a batch changes in the sessions table: rows to delete, rows to insert."""

    delete: list[int] = field(default_factory=list)
    insert: list[dict[str, Any]] = field(default_factory=list)

    def replace(self, old: Iterable[_Stored], new: Iterable[dict[str, Any]]) -> None:
        """Replace a pair's `old` rows by the `new` ones, leaving the rows that stay the same
        alone: a tap usually opens or closes one session, and the others keep their ids."""
        stored = {row.content(): row.id for row in old}
        for row in new:
            if stored.pop(_content(row), None) is None:
                self.insert.append(row)
        self.delete += stored.values()

    def write(self, session: Session) -> None:
        """Deletes by primary key, then one multi-row insert (executemany)."""
        table = cast(Table, PresenceSession.__table__)  # Core: no ORM work per row
        for chunk in _chunks(sorted(self.delete)):
            session.execute(delete(table).where(table.c.id.in_(chunk)))
        if self.insert:
            session.execute(insert(table), self.insert)


def _session_rows(
    taps: Sequence[Tap],
    site: SiteRules,
    member_id: str,
    *,
    now: datetime,
    debounce_s: float,
    max_session_h: float,
) -> list[dict[str, Any]]:
    """The rows of the sessions the rules make of `taps` (one member at one site)."""
    stays = sessions_from_taps(
        taps, site, now=now, debounce_s=debounce_s, max_session_h=max_session_h
    )
    at = _taps_at(taps) if stays else {}
    return [
        {
            "member_id": member_id,
            "site_id": site.id,
            "start": stay.start,
            "end": stay.end,
            "auto_closed": stay.auto_closed,
            "start_event_id": _first_tap_at(at, stay.start, ("in", "toggle")),
            "end_event_id": None
            if stay.end is None or stay.auto_closed
            else _first_tap_at(at, stay.end, ("out", "toggle")),
        }
        for stay in stays
    ]


def _restart_point(
    first: FirstTap, stored: Sequence[_Stored], *, debounce_s: float
) -> datetime | None:
    """`replay_from` for the pair's first new tap, given its sessions from `_replay_bound` on
    (start order): only the last one starting at or before the tap matters, as the clean
    points of earlier sessions all come before that one's start (its opening tap was counted
    at least a debounce after any earlier closing tap)."""
    tap_ts = utc(first.ts)
    before = [row for row in stored if utc(row.start) <= tap_ts]
    return replay_from(tap_ts, [before[-1].stay()] if before else [], debounce_s=debounce_s)


@dataclass(frozen=True)
class Present:
    """A member at a site now, and since when (the start of their session)."""

    member_id: str
    since: datetime


def occupancy(
    session: Session,
    site: SiteRules,
    now: datetime,
    *,
    max_session_h: float = DEFAULT_MAX_SESSION_H,
) -> list[Present]:
    """Who is at `site` at `now`, earliest arrival first.

    A session still open in the store whose auto-close moment has passed does not count,
    even before the periodic job has closed it.
    """
    return occupancies(session, [site], now, max_session_h=max_session_h)[site.id]


def occupancies(
    session: Session,
    sites: Iterable[SiteRules],
    now: datetime,
    *,
    max_session_h: float = DEFAULT_MAX_SESSION_H,
) -> dict[str, list[Present]]:
    """`occupancy` of each of `sites`, by site id, in one query (every ingest batch asks)."""
    by_id = {site.id: site for site in sites}
    stays: dict[str, list[Stay]] = {site_id: [] for site_id in by_id}
    for chunk in _chunks(sorted(by_id)):
        rows = session.execute(
            select(
                PresenceSession.member_id,
                PresenceSession.site_id,
                PresenceSession.start,
                PresenceSession.end,
                PresenceSession.auto_closed,
            ).where(
                PresenceSession.site_id.in_(chunk),
                PresenceSession.member_id.is_not(None),
                PresenceSession.start <= now,
                or_(PresenceSession.end.is_(None), PresenceSession.end > now),
            )
        )
        for member_id, site_id, start, end, auto_closed in rows:
            assert member_id is not None  # filtered
            if end is None:
                closes_at = auto_close_at(by_id[site_id], start, max_session_h=max_session_h)
                if utc(closes_at) <= utc(now):
                    end, auto_closed = closes_at, True
            stays[site_id].append(Stay(member_id, site_id, start, end, auto_closed))
    return {site_id: _present(site_stays, site_id, now) for site_id, site_stays in stays.items()}


def _present(stays: Sequence[Stay], site_id: str, now: datetime) -> list[Present]:
    present = present_at(stays, site_id, now)
    since = {s.member_id: s.start for s in stays if s.member_id in present}
    return sorted(
        (Present(member_id, start) for member_id, start in since.items()),
        key=lambda p: (utc(p.since), p.member_id),
    )


def close_expired_sessions(
    session: Session, *, now: datetime, max_session_h: float = DEFAULT_MAX_SESSION_H
) -> set[str]:
    """Auto-close (rule 4) the open sessions whose closing moment is at or before `now`;
    the sites where some were closed, whose occupancy changed.

    Taps close sessions as they are ingested; this is for members who never badge out.
    """
    open_members = session.scalars(
        select(PresenceSession.member_id)
        .where(PresenceSession.end.is_(None), PresenceSession.member_id.is_not(None))
        .distinct()
    ).all()
    if not open_members:
        return set()
    lock_members(session, (m for m in open_members if m is not None))
    rows = session.scalars(
        select(PresenceSession).where(
            PresenceSession.end.is_(None), PresenceSession.member_id.in_(open_members)
        )
    ).all()
    sites = load_sites(session, {row.site_id for row in rows})
    closed: set[str] = set()
    for row in rows:
        closes_at = auto_close_at(sites[row.site_id], row.start, max_session_h=max_session_h)
        if utc(closes_at) <= utc(now):
            row.end, row.auto_closed = closes_at, True
            closed.add(row.site_id)
    session.flush()
    return closed


class Presence:
    """The presence engine with the hub's rule parameters, as an ingest `on_batch` hook.

    `clock` says what "now" is, which decides whether a session left open has reached its
    auto-close moment; tests pass a fixed one.
    """

    def __init__(
        self,
        *,
        debounce_s: float = DEFAULT_DEBOUNCE_S,
        max_session_h: float = DEFAULT_MAX_SESSION_H,
        clock: Clock = utcnow,
    ) -> None:
        self.debounce_s = debounce_s
        self.max_session_h = max_session_h
        self.clock = clock
        self._unknown_sites: set[str] = set()

    @classmethod
    def from_config(cls, config: HubConfig, clock: Clock = utcnow) -> Presence:
        return cls(
            debounce_s=config.rules.debounce_s,
            max_session_h=config.rules.max_session_h,
            clock=clock,
        )

    def apply(self, session: Session, new: list[NewEvent]) -> None:
        """Re-compute the sessions the batch's new counted taps touch (an `OnBatch` hook).

        A constant number of queries per batch, whatever the number of member × site pairs
        it touches: lock the members, read the sessions and taps from each pair's restart
        point, replay in Python, then delete and insert only the rows that changed.
        """
        first = first_taps(new)
        if not first:
            return
        sites = load_sites(session, {site for _, site in first})
        self._log_unknown({site for _, site in first} - sites.keys())
        wanted = {pair: first[pair] for pair in sorted(first) if pair[1] in sites}
        if not wanted:
            return
        lock_members(session, (member_id for member_id, _ in wanted))
        drivers = [tap.event_id for tap in wanted.values()]
        stored = _stored_since_bound(session, drivers, debounce_s=self.debounce_s)
        taps = _taps_since_bound(session, drivers, debounce_s=self.debounce_s)
        now = self.clock()
        rewrite = _Rewrite()
        for pair, tap in wanted.items():
            pair_stored = stored.get(pair, [])
            since = _restart_point(tap, pair_stored, debounce_s=self.debounce_s)
            rewrite.replace(
                (row for row in pair_stored if since is None or utc(row.start) >= since),
                self._rows(
                    [t for t in taps.get(pair, []) if since is None or utc(t.ts) >= since],
                    sites[pair[1]],
                    pair[0],
                    now,
                ),
            )
        rewrite.write(session)

    def replay_sites(self, session: Session, site_ids: Iterable[str]) -> None:
        """Make the sessions of the members who have taps at these sites but no session
        there yet: the taps an edge sent before its site was imported.

        Members with sessions there are left alone: their sessions were made as taps came,
        and the taps of older ones may be gone already (retention), so a recompute from the
        taps left would lose them. Cheap to call after every sites import.
        """
        sites = load_sites(session, set(site_ids))
        tapped = session.execute(
            select(Event.member_id, Event.site)
            .where(
                Event.site.in_(sites),
                Event.type == "badge",
                Event.access == "granted",
                Event.member_id.is_not(None),
            )
            .distinct()
        ).all()
        lock_members(session, (member_id for member_id, _ in tapped if member_id is not None))
        with_sessions = session.execute(
            select(PresenceSession.member_id, PresenceSession.site_id)
            .where(PresenceSession.site_id.in_(sites), PresenceSession.member_id.is_not(None))
            .distinct()
        ).all()
        pairs = sorted(
            (member_id, site)
            for member_id, site in set(tapped) - set(with_sessions)
            if member_id is not None
        )
        if not pairs:
            return
        now = self.clock()
        rewrite = _Rewrite()
        for (member_id, site_id), taps in _counted_taps_of(session, pairs).items():
            rewrite.replace([], self._rows(taps, sites[site_id], member_id, now))
        rewrite.write(session)

    def _rows(
        self, taps: Sequence[Tap], site: SiteRules, member_id: str, now: datetime
    ) -> list[dict[str, Any]]:
        return _session_rows(
            taps,
            site,
            member_id,
            now=now,
            debounce_s=self.debounce_s,
            max_session_h=self.max_session_h,
        )

    def close_expired(self, session: Session) -> set[str]:
        return close_expired_sessions(session, now=self.clock(), max_session_h=self.max_session_h)

    def _log_unknown(self, sites: set[str]) -> None:
        # Their taps are stored; `replay_sites` makes their sessions once the site is
        # imported. Said once per site, not once per batch.
        for site in sorted(sites - self._unknown_sites):
            log.warning("taps at site %r, which is not imported: no sessions for them yet", site)
        self._unknown_sites |= sites
