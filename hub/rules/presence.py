"""From one member's taps at one site to presence sessions (RULES.md, Presence sessions).

Taps are replayed in (ts, event_id) order, so the same taps always give the same sessions
whatever order they arrived in; the event_id tie-break only matters for taps with the very
same ts. Taps repeated with the same event_id (MQTT delivers at least once) are counted once.

Choices where RULES.md is silent:
- Every tap that survives the debounce is a "counted tap" for the next debounce, even when
  rule 3 then ignores it (an `in` while already in): debounce is about the reader seeing one
  physical gesture twice, not about its effect.
- A tap at exactly the auto-close moment is applied before the auto-close: a member who badges
  out at 17:00:00 sharp closed their session themselves (`auto_closed` False), and a toggle
  reader does not open a fresh 12 h session for them.
- A session starting at or after the day's closing time gets `max_session_h`; one starting
  exactly at closing time would otherwise last zero seconds.
- A session whose auto-close moment is after `now` is returned open (end None); at `now` or
  before, it is returned auto-closed.

>>> from hub.rules.model import SiteRules, Tap, weekly_opening
>>> site = SiteRules("murat", opening=weekly_opening({"mon": ["08:30-17:00"]}))
>>> t = lambda h: datetime.fromisoformat(f"2026-02-02T{h}+01:00")
>>> [s.end.time() for s in sessions_from_taps(
...     [Tap("e1", "m1", "murat", t("09:00")), Tap("e2", "m1", "murat", t("11:00"))],
...     site, now=t("18:00"))]
[datetime.time(11, 0)]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from hub.rules.calendar import closing_time
from hub.rules.model import Session, SiteRules, Tap, elapsed, later, utc

DEFAULT_DEBOUNCE_S = 60
DEFAULT_MAX_SESSION_H = 12


def auto_close_at(
    site: SiteRules, start: datetime, *, max_session_h: float = DEFAULT_MAX_SESSION_H
) -> datetime:
    """When a session started at `start` is closed if nobody badges out (rule 4).

    The hub also uses this to close stored open sessions once the moment has passed.
    """
    closing = closing_time(site, site.local_date(start))
    if closing is not None and elapsed(start, closing) > timedelta(0):
        return closing
    return later(start, timedelta(hours=max_session_h), site.zone)


def _replay_order(taps: Iterable[Tap]) -> list[Tap]:
    """Taps sorted by (ts, event_id), one per event_id, independent of input order."""
    ordered = sorted(taps, key=lambda t: (utc(t.ts), t.event_id, t.direction))
    seen: set[str] = set()
    unique: list[Tap] = []
    for tap in ordered:
        if tap.event_id not in seen:
            seen.add(tap.event_id)
            unique.append(tap)
    return unique


#: What the hub made of a stored badge event (docs/rules.md, "Every tap says why"). The
#: first four come from the replay; the others are decided before it.
Outcome = Literal[
    "counted", "debounced", "already_in", "no_open_session", "quarantined", "unknown_badge",
    "denied",
]  # fmt: skip


@dataclass(frozen=True)
class Opened:
    """A session open at the instant a replay starts: where, since when, and the tap that
    opened it (None: a person did)."""

    site: str
    start: datetime
    opened_by: str | None = None


@dataclass(frozen=True)
class Carry:
    """The replay's state at the instant it starts: the member's open session, if any (a
    manual check-in, or one the replay continues), and the last counted tap at each site
    (for the debounce). A replay from scratch carries nothing."""

    open: Opened | None = None
    last_counted: Mapping[str, datetime] = field(default_factory=dict)


@dataclass(frozen=True)
class Walked:
    """A session as the replay made it, with the events that opened and closed it (None:
    carried in, auto-closed, or ended by a tap at another site: `elsewhere`)."""

    session: Session
    start_event_id: str | None
    end_event_id: str | None
    elsewhere: bool = False

    @property
    def end_reason(self) -> str | None:
        """`tap`, `auto` (rule 4), `elsewhere` (one place at a time), None while open."""
        if self.session.end is None:
            return None
        if self.elsewhere:
            return "elsewhere"
        return "auto" if self.session.auto_closed else "tap"


@dataclass(frozen=True)
class Walk:
    """The member's sessions in start order, and the outcome of every tap."""

    sessions: list[Walked]
    outcomes: dict[str, Outcome]


def walk(
    taps: Iterable[Tap],
    sites: SiteRules | Mapping[str, SiteRules],
    *,
    now: datetime,
    debounce_s: float = DEFAULT_DEBOUNCE_S,
    max_session_h: float = DEFAULT_MAX_SESSION_H,
    carry: Carry = Carry(),
) -> Walk:
    """The replay of one member's taps at all their sites (rules 2 to 5, and one place at a
    time), from `carry`.

    `taps` must all belong to the same member, at `sites` (one site's rules, or all of them
    by id); give only counted taps (rule 1). Each site's reader has its own debounce; a tap
    that survives it at another site than the open session's ends that session there
    (`elsewhere`), then acts at its own site as usual: a member who goes A → B → A is at A
    again from the return. `now` decides whether a session left open has reached its
    auto-close moment yet. An auto-close forgets the site's last counted tap (code
    decision): the member's stay is over, so the next tap is a new gesture.
    """
    rules = {sites.id: sites} if isinstance(sites, SiteRules) else sites
    ordered = _replay_order(taps)
    members = {tap.member_id for tap in ordered}
    unknown = {tap.site for tap in ordered} - rules.keys()
    if len(members) > 1 or unknown:
        raise ValueError(f"taps of one member at {sorted(rules)} expected, got {members} {unknown}")

    debounce = timedelta(seconds=debounce_s)
    sessions: list[Walked] = []
    outcomes: dict[str, Outcome] = {}
    last_counted = {site: utc(at) for site, at in carry.last_counted.items()}
    member_id = ordered[0].member_id if ordered else ""
    opened = carry.open
    # The open session's auto-close moment (and in UTC), worked out once when it opens.
    closes_at = closes_at_utc = now
    if opened is not None:
        closes_at = auto_close_at(rules[opened.site], opened.start, max_session_h=max_session_h)
        closes_at_utc = utc(closes_at)
    for tap in ordered:
        at = utc(tap.ts)
        if opened is not None and closes_at_utc < at:
            closed = Session(member_id, opened.site, opened.start, closes_at, True)
            sessions.append(Walked(closed, opened.opened_by, None))
            last_counted.pop(opened.site, None)
            opened = None
        previous = last_counted.get(tap.site)
        if previous is not None and at - previous < debounce:
            outcomes[tap.event_id] = "debounced"
            continue
        last_counted[tap.site] = at
        if opened is not None and opened.site != tap.site:
            left = Session(member_id, opened.site, opened.start, tap.ts)
            sessions.append(Walked(left, opened.opened_by, None, elsewhere=True))
            opened = None
        if opened is None and tap.direction in ("in", "toggle"):
            opened = Opened(tap.site, tap.ts, tap.event_id)
            closes_at = auto_close_at(rules[tap.site], tap.ts, max_session_h=max_session_h)
            closes_at_utc = utc(closes_at)
            outcomes[tap.event_id] = "counted"
        elif opened is not None and tap.direction in ("out", "toggle"):
            closed = Session(member_id, opened.site, opened.start, tap.ts)
            sessions.append(Walked(closed, opened.opened_by, tap.event_id))
            opened = None
            outcomes[tap.event_id] = "counted"
        else:
            outcomes[tap.event_id] = "already_in" if opened is not None else "no_open_session"

    if opened is not None and member_id:
        if closes_at_utc <= utc(now):
            closed = Session(member_id, opened.site, opened.start, closes_at, True)
            sessions.append(Walked(closed, opened.opened_by, None))
        else:
            stay = Session(member_id, opened.site, opened.start)
            sessions.append(Walked(stay, opened.opened_by, None))
    return Walk(sessions, outcomes)


def sessions_from_taps(
    taps: Iterable[Tap],
    site: SiteRules,
    *,
    now: datetime,
    debounce_s: float = DEFAULT_DEBOUNCE_S,
    max_session_h: float = DEFAULT_MAX_SESSION_H,
) -> list[Session]:
    """The sessions of one member at one site, in start order (`walk` from scratch)."""
    replay = walk(taps, site, now=now, debounce_s=debounce_s, max_session_h=max_session_h)
    return [walked.session for walked in replay.sessions]


def present_at(sessions: Iterable[Session], site: str, at: datetime) -> frozenset[str]:
    """Members present at `site` at instant `at` (start <= at < end, or still open): what
    the occupancy display counts."""
    return frozenset(
        s.member_id
        for s in sessions
        if s.site == site and utc(s.start) <= utc(at) and (s.end is None or utc(at) < utc(s.end))
    )
