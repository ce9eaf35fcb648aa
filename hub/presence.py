"""The presence engine: stored badge taps to stored sessions (RULES.md, Presence sessions).

It runs inside each ingest batch's transaction (MQTT and JSON Lines alike), so a batch's
events and the sessions they make are committed together or not at all. The rules are
`hub.rules.presence`; this module only reads taps and sessions and writes sessions.

A late tap re-computes only what it touches: for each member × site with new counted taps,
`replay_from` gives the instant R from which the replay must restart; the sessions starting at
or after R are deleted and made again from the stored taps at or after R. The result is the
same as a recompute from every tap, whatever order the events arrived in.

>>> presence = Presence.from_config(config)              # doctest: +SKIP
>>> ingest.on_batch.append(presence.apply)                # doctest: +SKIP
>>> with sessions.begin() as session:                      # every minute or so
...     close_expired_sessions(session, now=utcnow(), max_session_h=12)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, or_, select
from sqlalchemy.orm import Session

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
from hub.store.models import Event, Member, PresenceSession, utcnow
from telecentre import wire

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def counted_taps(new: Iterable[NewEvent]) -> dict[tuple[str, str], datetime]:
    """The earliest new counted tap (rule 1) of each member × site of a batch."""
    earliest: dict[tuple[str, str], datetime] = {}
    for item in new:
        event = item.event
        if (
            isinstance(event, wire.BadgeEvent)
            and event.access == "granted"
            and item.member_id is not None
        ):
            key = (item.member_id, event.site)
            if key not in earliest or utc(event.ts) < utc(earliest[key]):
                earliest[key] = event.ts
    return earliest


def lock_members(session: Session, member_ids: Iterable[str]) -> None:
    """Serialise the recomputes of one member between hub processes (PostgreSQL).

    In id order, so two processes cannot deadlock; `FOR NO KEY UPDATE`, so events that merely
    refer to the member are still inserted meanwhile. SQLite has one writer anyway.
    """
    session.execute(
        select(Member.id)
        .where(Member.id.in_(sorted(set(member_ids))))
        .order_by(Member.id)
        .with_for_update(key_share=True)
    ).all()


def _stay(row: PresenceSession) -> Stay:
    assert row.member_id is not None  # only members' own sessions are replayed
    return Stay(row.member_id, row.site_id, row.start, row.end, row.auto_closed)


def _first_tap_at(taps: Sequence[Tap], ts: datetime, directions: tuple[str, ...]) -> str | None:
    """The event that made a session boundary: the rules replay taps in (ts, event_id) order,
    and with a debounce only the first tap at an instant can be counted."""
    candidates = [t for t in taps if utc(t.ts) == utc(ts) and t.direction in directions]
    return min(candidates, key=lambda t: t.event_id).event_id if candidates else None


def replay(
    session: Session,
    member_id: str,
    site: SiteRules,
    since: datetime | None,
    *,
    now: datetime,
    debounce_s: float = DEFAULT_DEBOUNCE_S,
    max_session_h: float = DEFAULT_MAX_SESSION_H,
) -> None:
    """Make the member's sessions at `site` starting at or after `since` again from the taps
    at or after it (`since` None: all of them). `since` must be a clean point (`replay_from`).
    """
    sessions_filter = [PresenceSession.member_id == member_id, PresenceSession.site_id == site.id]
    taps_query = select(Event.id, Event.ts, Event.direction).where(
        Event.member_id == member_id,
        Event.site == site.id,
        Event.type == "badge",
        Event.access == "granted",
    )
    if since is not None:
        sessions_filter.append(PresenceSession.start >= since)
        taps_query = taps_query.where(Event.ts >= since)
    session.execute(delete(PresenceSession).where(*sessions_filter))
    taps = [
        Tap(event_id, member_id, site.id, ts, _direction(direction))
        for event_id, ts, direction in session.execute(taps_query)
    ]
    stays = sessions_from_taps(
        taps, site, now=now, debounce_s=debounce_s, max_session_h=max_session_h
    )
    if stays:
        session.execute(
            insert(PresenceSession),
            [
                {
                    "member_id": member_id,
                    "site_id": site.id,
                    "start": stay.start,
                    "end": stay.end,
                    "auto_closed": stay.auto_closed,
                    "start_event_id": _first_tap_at(taps, stay.start, ("in", "toggle")),
                    "end_event_id": None
                    if stay.end is None or stay.auto_closed
                    else _first_tap_at(taps, stay.end, ("out", "toggle")),
                }
                for stay in stays
            ],
        )


def _direction(value: str | None) -> Direction:
    return "in" if value == "in" else "out" if value == "out" else "toggle"


def restart_point(
    session: Session, member_id: str, site_id: str, tap_ts: datetime, *, debounce_s: float
) -> datetime | None:
    """`replay_from` for a tap at `tap_ts`, reading only the last stored session that starts
    at or before it: the clean points of earlier sessions all come before that one's start
    (its opening tap was counted at least a debounce after any earlier closing tap)."""
    last = session.scalars(
        select(PresenceSession)
        .where(
            PresenceSession.member_id == member_id,
            PresenceSession.site_id == site_id,
            PresenceSession.start <= tap_ts,
        )
        .order_by(PresenceSession.start.desc())
        .limit(1)
    ).first()
    return replay_from(tap_ts, [_stay(last)] if last else [], debounce_s=debounce_s)


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
    rows = session.scalars(
        select(PresenceSession).where(
            PresenceSession.site_id == site.id,
            PresenceSession.member_id.is_not(None),
            PresenceSession.start <= now,
            or_(PresenceSession.end.is_(None), PresenceSession.end > now),
        )
    )
    stays = []
    for row in rows:
        stay = _stay(row)
        if stay.end is None:
            closes_at = auto_close_at(site, stay.start, max_session_h=max_session_h)
            if utc(closes_at) <= utc(now):
                stay = Stay(stay.member_id, stay.site, stay.start, closes_at, True)
        stays.append(stay)
    present = present_at(stays, site.id, now)
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
        """Re-compute the sessions the batch's new counted taps touch (an `OnBatch` hook)."""
        earliest = counted_taps(new)
        if not earliest:
            return
        sites = load_sites(session, {site for _, site in earliest})
        self._log_unknown({site for _, site in earliest} - sites.keys())
        wanted = sorted(key for key in earliest if key[1] in sites)
        lock_members(session, (member_id for member_id, _ in wanted))
        now = self.clock()
        for member_id, site_id in wanted:
            since = restart_point(
                session,
                member_id,
                site_id,
                earliest[member_id, site_id],
                debounce_s=self.debounce_s,
            )
            replay(
                session,
                member_id,
                sites[site_id],
                since,
                now=now,
                debounce_s=self.debounce_s,
                max_session_h=self.max_session_h,
            )

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
        now = self.clock()
        for member_id, site_id in pairs:
            replay(
                session,
                member_id,
                sites[site_id],
                None,
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
