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

from collections.abc import Iterable
from dataclasses import dataclass
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
class Carry:
    """The replay's state at the instant it starts: a session open since `open_since` (a
    manual check-in still open), and the last counted tap (for the debounce). A replay from
    scratch carries nothing."""

    open_since: datetime | None = None
    last_counted: datetime | None = None


@dataclass(frozen=True)
class Walked:
    """A session as the replay made it, with the events that opened and closed it (None:
    carried in, or auto-closed)."""

    session: Session
    start_event_id: str | None
    end_event_id: str | None

    @property
    def end_reason(self) -> str | None:
        """`tap`, `auto` (rule 4), None while open."""
        if self.session.end is None:
            return None
        return "auto" if self.session.auto_closed else "tap"


@dataclass(frozen=True)
class Walk:
    """The sessions of one member × site in start order, and the outcome of every tap."""

    sessions: list[Walked]
    outcomes: dict[str, Outcome]


def walk(
    taps: Iterable[Tap],
    site: SiteRules,
    *,
    now: datetime,
    debounce_s: float = DEFAULT_DEBOUNCE_S,
    max_session_h: float = DEFAULT_MAX_SESSION_H,
    carry: Carry = Carry(),
) -> Walk:
    """The replay of one member's taps at one site (rules 2 to 5), from `carry`.

    `taps` must all belong to the same member and to `site`; give only counted taps (rule 1).
    `now` decides whether a session left open has reached its auto-close moment yet.
    An auto-close forgets the last counted tap (code decision): the member's stay is over,
    so the next tap is a new gesture; it also makes an auto-close a clean point of the
    replay, where a replay after a final session can start.
    """
    ordered = _replay_order(taps)
    members = {tap.member_id for tap in ordered}
    sites = {tap.site for tap in ordered}
    if len(members) > 1 or sites - {site.id}:
        raise ValueError(f"taps of one member at site {site.id} expected, got {members} {sites}")

    debounce = timedelta(seconds=debounce_s)
    sessions: list[Walked] = []
    outcomes: dict[str, Outcome] = {}
    open_start = carry.open_since
    opened_by: str | None = None
    # The open session's auto-close moment (and in UTC), worked out once when it opens.
    closes_at = closes_at_utc = now
    if open_start is not None:
        closes_at = auto_close_at(site, open_start, max_session_h=max_session_h)
        closes_at_utc = utc(closes_at)
    last_counted = None if carry.last_counted is None else utc(carry.last_counted)
    member_id = ordered[0].member_id if ordered else ""
    for tap in ordered:
        at = utc(tap.ts)
        if open_start is not None and closes_at_utc < at:
            closed = Session(member_id, site.id, open_start, closes_at, True)
            sessions.append(Walked(closed, opened_by, None))
            open_start, last_counted = None, None
        if last_counted is not None and at - last_counted < debounce:
            outcomes[tap.event_id] = "debounced"
            continue
        last_counted = at
        if open_start is None and tap.direction in ("in", "toggle"):
            open_start, opened_by = tap.ts, tap.event_id
            closes_at = auto_close_at(site, open_start, max_session_h=max_session_h)
            closes_at_utc = utc(closes_at)
            outcomes[tap.event_id] = "counted"
        elif open_start is not None and tap.direction in ("out", "toggle"):
            closed = Session(member_id, site.id, open_start, tap.ts)
            sessions.append(Walked(closed, opened_by, tap.event_id))
            open_start = None
            outcomes[tap.event_id] = "counted"
        else:
            outcomes[tap.event_id] = "already_in" if open_start is not None else "no_open_session"

    if open_start is not None and member_id:
        if closes_at_utc <= utc(now):
            closed = Session(member_id, site.id, open_start, closes_at, True)
            sessions.append(Walked(closed, opened_by, None))
        else:
            sessions.append(Walked(Session(member_id, site.id, open_start), opened_by, None))
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


def replay_from(
    tap_ts: datetime,
    sessions: Iterable[Session],
    *,
    debounce_s: float = DEFAULT_DEBOUNCE_S,
) -> datetime | None:
    """Where to restart the replay of one member × site when a tap at `tap_ts` arrives late.

    `sessions` are that member's stored sessions at that site (as `sessions_from_taps` made
    them, before the late tap). The hub then deletes the stored sessions starting at or after
    the returned instant R, and stores `sessions_from_taps` of the taps with ts >= R (the late
    one included). None means: recompute that member × site from all its taps.

    Why it is correct: the replay is a left-to-right walk whose only state is the open
    session's start and the last counted tap. Call an instant P *clean* when, just before P,
    no session is open and the last counted tap is at least `debounce_s` before P (or there is
    none): from a clean point, the walk over taps with ts >= P makes the same decisions as a
    walk started from scratch at P. Clean points can be read off the stored sessions:
    - a session's start S is clean: its opening tap was counted, so the previous counted tap
      is at least the debounce before S and any session before ended before S;
    - for a session closed by a tap at E (not auto-closed), E + debounce is clean: every tap
      in (E, E + debounce) was debounced by E, so none opened a session or became the last
      counted tap.
      (After an auto-close no tap is known to be counted, so its end gives no clean point.)
    Taps before `tap_ts` are walked exactly as before, so sessions that start before R (and,
    R being clean, end before R) are unchanged. The latest clean point <= `tap_ts` is returned,
    which replays as little as possible. With a debounce of zero, several counted taps can
    share one ts and a session start is no longer clean, hence None.
    """
    if debounce_s <= 0:
        return None
    debounce = timedelta(seconds=debounce_s)
    clean_points = [utc(s.start) for s in sessions]
    clean_points += [utc(s.end) + debounce for s in sessions if s.end and not s.auto_closed]
    return max((p for p in clean_points if p <= utc(tap_ts)), default=None)


def present_at(sessions: Iterable[Session], site: str, at: datetime) -> frozenset[str]:
    """Members present at `site` at instant `at` (start <= at < end, or still open): what
    the occupancy display counts."""
    return frozenset(
        s.member_id
        for s in sessions
        if s.site == site and utc(s.start) <= utc(at) and (s.end is None or utc(at) < utc(s.end))
    )
