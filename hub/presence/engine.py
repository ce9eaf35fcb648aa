"""The presence engine: stored badge taps to stored sessions (docs/rules.md, Presence).

It runs inside each ingest batch's transaction (MQTT and JSON Lines alike), so a batch's
events, the sessions they make and the outcome of each tap are committed together or not at
all. What to replay is decided by `hub.rules.replay.plan_member` (pure); the store reads are
`hub.store.replay`; this module puts them together and writes the rows that differ, many at
a time (`hub.store.bulk`). Ingest holds the batch's own event rows back until the engine has
run (`store_events(hold=True)`): it reads only the taps of earlier batches from the store,
and the outcomes it gives are written with the rows, not by an UPDATE of each tap after.

A late tap re-computes only what it touches: for each member with new counted taps, the
replay of their taps at all their sites restarts at the earliest one, never before the end
of their latest final session (which it never rewrites); a tap that would need that is
quarantined. The result is the same as a recompute from every tap, whatever order the
events arrived in, and a session keeps its id while it starts with the same tap.

>>> presence = Presence.from_config(config)              # doctest: +SKIP
>>> ingest.on_batch.append(presence.apply)                # doctest: +SKIP
>>> with sessions.begin() as session:                      # every minute or so
...     close_expired_sessions(session, now=utcnow(), max_session_h=12)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, insert, or_, select, update
from sqlalchemy.orm import Session

from hub.config import HubConfig
from hub.people.sites import load_sites
from hub.rules.model import Session as Stay
from hub.rules.model import SiteRules, Tap, utc
from hub.rules.presence import (
    DEFAULT_DEBOUNCE_S,
    DEFAULT_MAX_SESSION_H,
    Outcome,
    Walked,
    auto_close_at,
    present_at,
)
from hub.rules.replay import DEFAULT_FUTURE_TOLERANCE_S, MemberPlan, arrival_quarantine, plan_member
from hub.store.bulk import execute_many, insert_rows
from hub.store.events import NewEvent, write_outcomes
from hub.store.models import RULE_COLUMNS, Event, PresenceSession, utcnow
from hub.store.replay import (
    MemberRows,
    Pair,
    chunks,
    counted_taps_of,
    lock_members,
    rows_since,
)
from telecentre import wire

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

#: In the batch's `Session.info`: the sites whose sessions the replays changed, read by
#: `moved_sites`.
_MOVED_SITES = "presence.moved_sites"


def counted(new: Iterable[NewEvent]) -> dict[Pair, list[NewEvent]]:
    """A batch's new counted taps (rule 1: granted, badge held by a member) by member × site."""
    found: dict[Pair, list[NewEvent]] = {}
    for item in new:
        event = item.event
        if (
            isinstance(event, wire.BadgeEvent)
            and event.access == "granted"
            and item.member_id is not None
        ):
            found.setdefault((item.member_id, event.site), []).append(item)
    return found


def moved_sites(session: Session) -> set[str]:
    """The sites whose sessions this transaction's replays changed: their occupancy may have
    changed although nobody tapped there (a member seen at another site has left)."""
    found: set[str] = session.info.get(_MOVED_SITES, set())
    return found


def tapped_sites(new: Iterable[NewEvent]) -> set[str]:
    """The sites of a batch's new counted taps (rule 1), whose occupancy may have changed."""
    return {
        item.event.site
        for item in new
        if isinstance(item.event, wire.BadgeEvent)
        and item.event.access == "granted"
        and item.member_id is not None
    }


def _tap(item: NewEvent, member_id: str) -> Tap:
    event = item.event
    assert isinstance(event, wire.BadgeEvent)  # `counted` keeps badge events only
    # In UTC, as the store gives taps back: the rules compare them without converting.
    return Tap(event.id, member_id, event.site, utc(event.ts), event.direction)


def _row(member_id: str, walked: Walked) -> dict[str, Any]:
    stay = walked.session
    return {
        "member_id": member_id,
        "site_id": stay.site,
        "start": stay.start,
        "end": stay.end,
        "natural_end": stay.end,
        "auto_closed": stay.auto_closed,
        "start_event_id": walked.start_event_id,
        "end_event_id": walked.end_event_id,
        "end_reason": walked.end_reason,
        "final": False,
        "manual": False,
    }


#: (outcome, reason) of an event.
Verdict = tuple[Outcome, str | None]


@dataclass
class _Writes:
    """What a batch changes: session rows to delete, insert and update, event outcomes, and
    the sites whose sessions changed."""

    delete: list[int] = field(default_factory=list)
    insert: list[dict[str, Any]] = field(default_factory=list)
    update: list[dict[str, Any]] = field(default_factory=list)
    outcomes: dict[str, Verdict] = field(default_factory=dict)
    sites: set[str] = field(default_factory=set)

    def add(self, member_id: str, plan: MemberPlan, found: MemberRows) -> None:
        self.delete += plan.delete
        site_of = {row.id: row.session.site for row in found.sessions}
        self.sites |= {site_of[row_id] for row_id in plan.delete}
        for walked in plan.insert:
            self.insert.append(_row(member_id, walked))
            self.sites.add(walked.session.site)
        for row_id, walked in plan.update:
            stay = walked.session
            self.sites.add(stay.site)
            self.update.append(
                {
                    "row_id": row_id,
                    "new_end": stay.end,
                    "new_auto_closed": stay.auto_closed,
                    "new_end_event_id": walked.end_event_id,
                    "new_end_reason": walked.end_reason,
                }
            )
        for event_id, reason in plan.quarantined.items():
            self.outcomes[event_id] = ("quarantined", reason)
        for event_id, outcome in plan.outcomes.items():
            if found.outcomes.get(event_id) != outcome:
                self.outcomes[event_id] = (outcome, None)

    def write(self, session: Session) -> None:
        """Deletes by primary key, then multi-row inserts, then updates (executemany)."""
        connection = session.connection()
        for chunk in chunks(sorted(self.delete)):
            connection.execute(delete(_SESSIONS).where(_SESSIONS.c.id.in_(chunk)))
        insert_rows(connection, _INSERT_SESSIONS, self.insert)
        execute_many(connection, _UPDATE_SESSIONS, self.update)
        write_outcomes(session, self.outcomes)


_SESSIONS = cast(Table, PresenceSession.__table__)  # Core: no ORM work per row
_INSERT_SESSIONS = insert(_SESSIONS)
_UPDATE_SESSIONS = (
    update(_SESSIONS)
    .where(_SESSIONS.c.id == bindparam("row_id"))
    .values(
        end=bindparam("new_end"),
        natural_end=bindparam("new_end"),
        auto_closed=bindparam("new_auto_closed"),
        end_event_id=bindparam("new_end_event_id"),
        end_reason=bindparam("new_end_reason"),
    )
)


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
    for chunk in chunks(sorted(by_id)):
        rows = session.execute(
            select(*RULE_COLUMNS).where(
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
    still_open = PresenceSession.end.is_(None)
    open_members = session.scalars(
        select(PresenceSession.member_id)
        .where(still_open, PresenceSession.member_id.is_not(None))
        .distinct()
    ).all()
    if not open_members:
        return set()
    lock_members(session, (m for m in open_members if m is not None))
    rows = session.scalars(
        select(PresenceSession).where(still_open, PresenceSession.member_id.in_(open_members))
    ).all()
    sites = load_sites(session, {row.site_id for row in rows})
    closed: set[str] = set()
    for row in rows:
        closes_at = auto_close_at(sites[row.site_id], row.start, max_session_h=max_session_h)
        if utc(closes_at) <= utc(now):
            row.end = row.natural_end = closes_at
            row.auto_closed, row.end_reason = True, "auto"
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
        future_tolerance_s: float = DEFAULT_FUTURE_TOLERANCE_S,
        events_retention_days: int = 90,
        clock: Clock = utcnow,
    ) -> None:
        self.debounce_s = debounce_s
        self.max_session_h = max_session_h
        self.future_tolerance_s = future_tolerance_s
        self.events_retention_days = events_retention_days
        self.clock = clock
        self._unknown_sites: set[str] = set()

    @classmethod
    def from_config(cls, config: HubConfig, clock: Clock = utcnow) -> Presence:
        return cls(
            debounce_s=config.rules.debounce_s,
            max_session_h=config.rules.max_session_h,
            future_tolerance_s=config.rules.future_tolerance_s,
            events_retention_days=config.retention.events_retention_days,
            clock=clock,
        )

    def _arrival_verdict(self, item: NewEvent, ts: datetime, now: datetime) -> Verdict | None:
        """The arrival checks of the tap stamped `ts` against its receipt, or the engine's
        "now" if earlier (equal in the running hub, a batch being applied as it arrives;
        earlier when a test or a replay of the past fixes the clock, which then decides
        alone)."""
        if item.trusted:
            return None
        return self._arrival(ts, item.received_at, now)

    def _arrival(self, ts: datetime, received_at: datetime, now: datetime) -> Verdict | None:
        reason = arrival_quarantine(
            ts,
            min(utc(received_at), utc(now)),
            future_tolerance_s=self.future_tolerance_s,
            events_retention_days=self.events_retention_days,
        )
        return None if reason is None else ("quarantined", reason)

    def apply(self, session: Session, new: list[NewEvent]) -> None:
        """Re-compute the sessions the batch's new counted taps touch (an `OnBatch` hook),
        and the outcome of every tap the replays walk.

        A constant number of statements per batch, whatever the number of members it
        touches: lock the members, read each one's sessions and taps (at all their sites)
        from its earliest new tap on, plan in Python, then write only the rows that differ.
        """
        by_pair = counted(new)
        if not by_pair:
            return
        sites = load_sites(session, {site for _, site in by_pair})
        self._log_unknown({site for _, site in by_pair} - sites.keys())
        writes = _Writes()
        now = self.clock()
        wanted: dict[str, list[Tap]] = {}
        for pair in sorted(by_pair):
            if pair[1] not in sites:
                continue  # `replay_sites` makes them once the site is imported
            taps = wanted.setdefault(pair[0], [])
            for item in by_pair[pair]:
                tap = _tap(item, pair[0])
                verdict = self._arrival_verdict(item, tap.ts, now)
                if verdict is None:
                    taps.append(tap)
                else:
                    writes.outcomes[item.event.id] = verdict
            if not taps:
                del wanted[pair[0]]
        self._replay(session, wanted, writes, now)

    def _replay(
        self,
        session: Session,
        wanted: Mapping[str, list[Tap]],
        writes: _Writes,
        now: datetime,
    ) -> None:
        """Plan each member's replay from their `wanted` new taps on, and write it all."""
        if wanted:
            lock_members(session, wanted)
            debounce = timedelta(seconds=max(self.debounce_s, 0))
            bounds = {
                member_id: min(utc(tap.ts) for tap in taps) - debounce
                for member_id, taps in wanted.items()
            }
            rows = rows_since(session, bounds)
            sites = load_sites(
                session,
                {row.session.site for found in rows.values() for row in found.sessions}
                | {tap.site for found in rows.values() for tap in found.taps}
                | {tap.site for taps in wanted.values() for tap in taps},
            )
            for member_id, new_taps in sorted(wanted.items()):
                found = rows[member_id]
                plan = plan_member(
                    new_taps,
                    found.sessions,
                    [t for t in found.taps if t.event_id not in writes.outcomes],
                    found.outcomes,
                    sites,
                    now=now,
                    debounce_s=self.debounce_s,
                    max_session_h=self.max_session_h,
                )
                writes.add(member_id, plan, found)
        writes.write(session)
        session.info.setdefault(_MOVED_SITES, set()).update(writes.sites)

    def replay_sites(self, session: Session, site_ids: Iterable[str]) -> None:
        """Make the sessions of the members who have taps at these sites but no session
        there yet: the taps an edge sent before its site was imported, checked on arrival
        as the live ingest would have (`future`, `too_old`) if they never were.

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
        writes = _Writes()
        wanted: dict[str, list[Tap]] = {}
        for (member_id, _), stored in sorted(counted_taps_of(session, pairs).items()):
            for tap, received_at, outcome in stored:
                # Never judged (the site was not imported): the checks live ingest makes.
                verdict = None if outcome else self._arrival(tap.ts, received_at, now)
                if verdict is None:
                    wanted.setdefault(member_id, []).append(tap)
                else:
                    writes.outcomes[tap.event_id] = verdict
        self._replay(session, wanted, writes, now)

    def close_expired(self, session: Session) -> set[str]:
        return close_expired_sessions(session, now=self.clock(), max_session_h=self.max_session_h)

    def _log_unknown(self, sites: set[str]) -> None:
        # Their taps are stored; `replay_sites` makes their sessions once the site is
        # imported. Said once per site, not once per batch.
        for site in sorted(sites - self._unknown_sites):
            log.warning("taps at site %r, which is not imported: no sessions for them yet", site)
        self._unknown_sites |= sites
