"""What a batch's new taps change for one member: the replay plan (docs/rules.md, Final
sessions, Quarantine, Every tap says why, One place at a time).

The hub's presence engine (`hub/presence/engine.py`) reads, for each member a batch touches,
the stored sessions and counted taps (at all their sites) from a bound on, calls
`plan_member`, and writes what the plan says. Everything here is pure, so the same plan is
table- and property-tested.

- A **final** session (the retention marked it before deleting its taps, or a person made or
  corrected it) is never rewritten, and no replay starts before it: the *floor* of a member
  is the latest end of their final sessions (the start of one still open).
- A new tap at or before the floor would need such a replay: it is **quarantined**
  (`final_session`), stored but not applied. So is a tap stamped too far ahead of its
  receipt (`future`), or dated before the raw-events horizon and any commissioning the hub can
  check (`too_old`, see `arrival_quarantine`).
- A replay starts at the earliest new tap, from the state the stored rows give just before
  it: the session then open (continued, so it keeps its id; a manual check-in still open
  too, which a later tap closes) and each site's last counted tap (for the debounce).

>>> plan = plan_member(new, stored, taps, outcomes, sites, now=now)  # doctest: +SKIP
>>> plan.quarantined, plan.delete, plan.insert, plan.outcomes        # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from hub.rules.model import Session, SiteRules, Tap, utc
from hub.rules.presence import (
    DEFAULT_DEBOUNCE_S,
    DEFAULT_MAX_SESSION_H,
    Carry,
    Opened,
    Outcome,
    Walked,
    walk,
)

QuarantineReason = Literal["future", "too_old", "final_session"]

#: How far ahead of the hub's receipt a tap may be stamped (clocks drift; NTP fixes them).
DEFAULT_FUTURE_TOLERANCE_S = 300


def arrival_quarantine(
    ts: datetime,
    received_at: datetime,
    *,
    future_tolerance_s: float = DEFAULT_FUTURE_TOLERANCE_S,
    events_retention_days: int = 90,
) -> QuarantineReason | None:
    """Why a tap cannot be trusted as stamped, from its time stamps alone; None if it can.

    `future`: stamped more than `future_tolerance_s` after the hub received it (a tap from
    2999 must not open a session in 2999 nor auto-close today's).
    `too_old`: stamped more than the raw-events retention period before its receipt, so
    before the horizon of the last retention: the taps around it may be deleted already, and
    a replay from them would rewrite what they made. It is also before the device's
    commissioning as far as the hub can check it (its first receipt, less the retention
    period: never later than this bound), and a Pi without a real-time clock that boots in
    1970 falls here however it flags its clock.
    """
    # Each converted once: a year's import asks 26,000 times.
    at, received = utc(ts), utc(received_at)
    if at - received > timedelta(seconds=future_tolerance_s):
        return "future"
    if received - at > timedelta(days=events_retention_days):
        return "too_old"
    return None


@dataclass(frozen=True)
class StoredSession:
    """A stored session as the plan sees it."""

    id: int
    session: Session
    final: bool = False
    start_event_id: str | None = None
    end_event_id: str | None = None
    #: `tap`, `auto`, `elsewhere`, `manual`; None while open.
    end_reason: str | None = None

    def same_as(self, walked: Walked) -> bool:
        """Whether the walk made exactly this row again (no need to rewrite it)."""
        mine, theirs = self.session, walked.session
        return (
            utc(mine.start) == utc(theirs.start)
            and (None if mine.end is None else utc(mine.end))
            == (None if theirs.end is None else utc(theirs.end))
            and mine.auto_closed == theirs.auto_closed
            and self.start_event_id == walked.start_event_id
            and self.end_event_id == walked.end_event_id
            and self.end_reason == walked.end_reason
        )


#: The outcomes of taps that survived their reader's debounce: the last of them at a site is
#: what the next tap there is debounced against.
SEEN: frozenset[str] = frozenset({"counted", "already_in", "no_open_session"})


def floor_of(stored: Iterable[StoredSession]) -> datetime | None:
    """The instant at or before which no tap may change the member's sessions any more: the
    latest end of a final session among `stored` (its start while it is still open); None
    if none is final."""
    return max(
        (utc(row.session.end or row.session.start) for row in stored if row.final), default=None
    )


@dataclass
class MemberPlan:
    """What to write for one member."""

    #: New taps not applied, and why.
    quarantined: dict[str, QuarantineReason] = field(default_factory=dict)
    #: Stored sessions to delete (ids) and sessions to insert.
    delete: list[int] = field(default_factory=list)
    insert: list[Walked] = field(default_factory=list)
    #: Stored sessions (ids) the replay made again differently, and how they stand now:
    #: the session open when the replay starts (a manual check-in too), or one still opened
    #: by the same tap, keeps its id whatever its end became.
    update: list[tuple[int, Walked]] = field(default_factory=list)
    #: The outcome of every tap the replay walked (taps before it keep theirs).
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    #: Where the replay started (None: nothing replayed).
    since: datetime | None = None


def plan_member(
    new: Sequence[Tap],
    stored: Sequence[StoredSession],
    taps: Sequence[Tap],
    outcomes: Mapping[str, str | None],
    sites: SiteRules | Mapping[str, SiteRules],
    *,
    now: datetime,
    debounce_s: float = DEFAULT_DEBOUNCE_S,
    max_session_h: float = DEFAULT_MAX_SESSION_H,
) -> MemberPlan:
    """The plan for one member after the `new` counted taps were stored.

    The replay starts at the earliest new tap, from the state the stored rows say the member
    was in just before it (`Carry`): the session open then, which the replay continues, and
    each site's last counted tap, read off the taps' outcomes and the sessions' opening and
    closing taps (those of final sessions may be gone). Taps before it are walked exactly
    as before, so nothing before it changes.

    `stored` are the member's stored sessions still open or ending at or after a bound, or
    starting after it, and `taps` its counted taps at `sites` not quarantined from the same
    bound on, the new ones included, with their `outcomes` so far; the bound is at least
    the debounce before the earliest new tap.
    """
    rules = {sites.id: sites} if isinstance(sites, SiteRules) else sites
    plan = MemberPlan()
    floor = floor_of(stored)
    accepted = []
    for tap in new:
        if floor is not None and utc(tap.ts) <= floor:
            plan.quarantined[tap.event_id] = "final_session"
        else:
            accepted.append(tap)
    if not accepted:
        return plan
    since = plan.since = min(utc(tap.ts) for tap in accepted)
    before = [row for row in stored if utc(row.session.start) < since]
    replaced = [row for row in stored if utc(row.session.start) >= since]
    still_open = [r for r in before if r.session.end is None or utc(r.session.end) >= since]
    carried = max(still_open, key=lambda r: (utc(r.session.start), r.id), default=None)
    opened = None
    if carried is not None:
        stay = carried.session
        opened = Opened(stay.site, stay.start, carried.start_event_id)
    carry = Carry(opened, _last_counted(before, taps, outcomes, since))
    walked = {tap.event_id: tap for tap in taps if utc(tap.ts) >= since and tap.site in rules}
    walked |= {tap.event_id: tap for tap in accepted}
    replay = walk(
        walked.values(),
        rules,
        now=now,
        debounce_s=debounce_s,
        max_session_h=max_session_h,
        carry=carry,
    )
    plan.outcomes = replay.outcomes
    made = list(replay.sessions)
    if carried is not None:
        continued = made.pop(0)  # the open session ends (or stays open) first
        if not carried.same_as(continued):
            plan.update.append((carried.id, continued))
    _match(made, replaced, plan)
    return plan


def _last_counted(
    before: Sequence[StoredSession],
    taps: Sequence[Tap],
    outcomes: Mapping[str, str | None],
    since: datetime,
) -> dict[str, datetime]:
    """Each site's last counted tap before `since`: a tap that survived the debounce, or the
    tap that opened or closed a session there; forgotten if a session there was auto-closed
    after it (`walk`)."""
    last: dict[str, datetime] = {}

    def saw(site: str, at: datetime) -> None:
        if at < since and (site not in last or at > last[site]):
            last[site] = at

    for tap in taps:
        if outcomes.get(tap.event_id) in SEEN:
            saw(tap.site, utc(tap.ts))
    for row in before:
        stay = row.session
        if row.start_event_id is not None:
            saw(stay.site, utc(stay.start))
        if stay.end is not None and row.end_reason == "tap":
            saw(stay.site, utc(stay.end))
    for row in before:
        stay = row.session
        forgot = stay.auto_closed and stay.end is not None and stay.site in last
        if forgot and stay.end is not None and last[stay.site] <= utc(stay.end) < since:
            del last[stay.site]
    return last


def _match(made: Sequence[Walked], replaced: Sequence[StoredSession], plan: MemberPlan) -> None:
    """Which of the `replaced` rows each session the replay `made` is: the one opened by the
    same tap (kept if unchanged, else updated in place), so a session keeps its id for as
    long as it starts with the same tap; the others are inserted, and the rows no session
    is any more are deleted."""
    by_opener = {row.start_event_id: row for row in replaced if row.start_event_id is not None}
    kept: set[int] = set()
    for walked in made:
        row = by_opener.get(walked.start_event_id) if walked.start_event_id else None
        if row is None or row.id in kept:
            plan.insert.append(walked)
            continue
        kept.add(row.id)
        if not row.same_as(walked):
            plan.update.append((row.id, walked))
    plan.delete = [row.id for row in replaced if row.id not in kept]
