"""What a batch's new taps change for one member × site: the replay plan (docs/rules.md,
Final sessions, Quarantine, Every tap says why).

The hub's presence engine (`hub/presence/engine.py`) reads, for each member × site a batch touches,
the stored sessions and counted taps from a bound on, calls `plan_pair`, and writes what the
plan says. Everything here is pure, so the same plan is table- and property-tested.

- A **final** session (the retention marked it before deleting its taps, or a person made or
  corrected it) is never rewritten, and no replay starts before it: the *floor* of a
  member × site is the end of its latest final session (its start while it is still open).
- A new tap at or before the floor would need such a replay: it is **quarantined**
  (`final_session`), stored but not applied. So is a tap stamped too far ahead of its
  receipt (`future`), or dated before the raw-events horizon and any commissioning the hub can
  check (`too_old`, see `arrival_quarantine`).
- The replay after the floor starts from the floor's `Carry`: the latest final session's
  end was a tap (the debounce remembers it), a person or an auto-close (nothing to
  remember), or it is a manual check-in still open, which a later tap out closes.

>>> plan = plan_pair(new, stored, taps, site, now=now)          # doctest: +SKIP
>>> plan.quarantined, plan.delete, plan.insert, plan.outcomes    # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from hub.rules.model import Session, SiteRules, Tap, utc
from hub.rules.presence import (
    DEFAULT_DEBOUNCE_S,
    DEFAULT_MAX_SESSION_H,
    Carry,
    Outcome,
    Walked,
    replay_from,
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
    if utc(ts) > utc(received_at) + timedelta(seconds=future_tolerance_s):
        return "future"
    if utc(ts) < utc(received_at) - timedelta(days=events_retention_days):
        return "too_old"
    return None


@dataclass(frozen=True)
class StoredSession:
    """A stored session as the plan sees it: with the end its own site gave it (before the
    one-place rule cut it, `hub.rules.one_place`)."""

    id: int
    session: Session
    final: bool = False
    start_event_id: str | None = None
    end_event_id: str | None = None

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
        )


@dataclass(frozen=True)
class Floor:
    """Where the replays of a member × site may start: after `at`, from `carry`.

    `open_row` is the id of the final session still open (a manual check-in), which the
    replay continues and may close.
    """

    at: datetime
    carry: Carry
    open_row: int | None = None


def floor_of(stored: Iterable[StoredSession]) -> Floor | None:
    """The floor set by the latest final session (by start) among `stored`; None if none is
    final."""
    finals = [row for row in stored if row.final]
    if not finals:
        return None
    latest = max(finals, key=lambda row: (utc(row.session.start), row.id))
    stay = latest.session
    if stay.end is None:
        # Opened by a tap (a session open when the retention ran): that tap was counted.
        opener = stay.start if latest.start_event_id is not None else None
        return Floor(stay.start, Carry(open_since=stay.start, last_counted=opener), latest.id)
    # Closed by a tap: that tap is the last counted one (rule 3 still applies after it).
    closer = latest.end_event_id is not None and not stay.auto_closed
    return Floor(stay.end, Carry(last_counted=stay.end if closer else None))


@dataclass
class PairPlan:
    """What to write for one member × site."""

    #: New taps not applied, and why.
    quarantined: dict[str, QuarantineReason] = field(default_factory=dict)
    #: Stored sessions to delete (ids) and sessions to insert.
    delete: list[int] = field(default_factory=list)
    insert: list[Walked] = field(default_factory=list)
    #: Stored sessions (ids) the replay made again differently, and how they stand now:
    #: one still opened by the same tap (or the final open session the replay continued)
    #: keeps its id, whatever its end became.
    update: list[tuple[int, Walked]] = field(default_factory=list)
    #: The outcome of every tap the replay walked (taps before it keep theirs).
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    #: Where the replay started (None: nothing replayed).
    since: datetime | None = None


def plan_pair(
    new: Sequence[Tap],
    stored: Sequence[StoredSession],
    taps: Sequence[Tap],
    site: SiteRules,
    *,
    now: datetime,
    debounce_s: float = DEFAULT_DEBOUNCE_S,
    max_session_h: float = DEFAULT_MAX_SESSION_H,
) -> PairPlan:
    """The plan for one member × site after the `new` counted taps were stored.

    `stored` are the pair's stored sessions (start order) and `taps` its counted taps, not
    quarantined, the new ones included, both from the same bound on: a bound at or before the
    start of the last stored session starting at or before the earliest new tap (or the dawn
    of time when there is none), as the engine's queries read them.
    """
    plan = PairPlan()
    floor = floor_of(stored)
    accepted = []
    for tap in new:
        if floor is not None and utc(tap.ts) <= utc(floor.at):
            plan.quarantined[tap.event_id] = "final_session"
        else:
            accepted.append(tap)
    if not accepted:
        return plan
    first = min(utc(tap.ts) for tap in accepted)
    before = [row.session for row in stored if utc(row.session.start) <= first]
    restart = replay_from(first, before[-1:], debounce_s=debounce_s)
    carry = Carry()
    open_row = None
    if floor is not None and (restart is None or restart <= utc(floor.at)):
        # From the floor: only the taps after it, from its carry.
        walked_taps = [t for t in taps if utc(t.ts) > utc(floor.at)]
        replaced = [r for r in stored if not r.final and utc(r.session.start) >= utc(floor.at)]
        carry, open_row, plan.since = floor.carry, floor.open_row, utc(floor.at)
    elif restart is not None:
        walked_taps = [t for t in taps if utc(t.ts) >= restart]
        replaced = [r for r in stored if utc(r.session.start) >= restart]
        plan.since = restart
    else:
        walked_taps, replaced = list(taps), list(stored)
        plan.since = min([utc(t.ts) for t in taps] + [first])
    replay = walk(
        walked_taps,
        site,
        now=now,
        debounce_s=debounce_s,
        max_session_h=max_session_h,
        carry=carry,
    )
    plan.outcomes = replay.outcomes
    made = list(replay.sessions)
    if open_row is not None and made and carry.open_since is not None:
        continued = made.pop(0)
        if continued.session.end is not None:
            plan.update.append((open_row, continued))
    _match(made, replaced, plan)
    return plan


def _match(made: Sequence[Walked], replaced: Sequence[StoredSession], plan: PairPlan) -> None:
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
