"""The network's days played live: each tap of `year.day_taps` falls due at its time of day.

At `pace` 1 a tap falls due when the clock reaches its time (the doors stamp it then, so
it is stored as the day drew it); at a higher pace the simulated clock runs that many times
faster from now, for watching a day go by (sessions then last minutes). Either way a
member's taps stay at least `GAP_S` apart in real time (the hub's debounce would drop a
closer one and the member would seem still in): a member still busy with an earlier day
when the next begins sits that day out, so a day is never cut in the middle.

>>> day = LiveDay(crowd, sites, seed=7, now=datetime.now(UTC), pace=1)
>>> day.due()                  # the taps whose time has come, in order
>>> day.seconds_to_next()      # how long until the next one
"""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import datetime, timedelta

from deploy.demo.year import Member, Site, Tap, day_taps

#: The hub's debounce (60 s) and a margin.
GAP_S = 61.0
#: A double tap comes this long after the tap it repeats (within the debounce, on purpose).
DOUBLE_S = 3.0


class LiveDay:
    def __init__(
        self,
        crowd: list[Member],
        sites: dict[str, Site],
        seed: int,
        now: datetime,
        pace: float,
    ) -> None:
        self.crowd, self.sites, self.seed, self.pace = crowd, sites, seed, pace
        self.start = now
        self.real_start = time.monotonic()
        self.day = now.astimezone(next(iter(sites.values())).rules.zone).date()
        self.busy_until: dict[str, float] = {}
        self.queue: list[tuple[float, Tap]] = self._load(from_instant=now)

    def simulated_now(self) -> datetime:
        return self.start + timedelta(seconds=(time.monotonic() - self.real_start) * self.pace)

    def _due_at(self, tap: Tap) -> float:
        return self.real_start + (tap.at - self.start).total_seconds() / self.pace

    def _load(self, from_instant: datetime | None = None) -> list[tuple[float, Tap]]:
        taps = [
            tap
            for tap in day_taps(self.day, self.crowd, self.sites, self.seed)
            if from_instant is None or tap.at >= from_instant
        ]
        by_card: dict[str, list[Tap]] = defaultdict(list)
        for tap in taps:
            by_card[tap.badge].append(tap)
        queue = []
        for badge, own in by_card.items():
            if own[0].kind == "stranger":
                queue += [(self._due_at(tap), tap) for tap in own]
                continue
            previous = self.busy_until.get(badge)
            if previous is not None and self._due_at(own[0]) < previous + GAP_S:
                continue  # still busy with an earlier day: sits this one out
            for tap in own:
                due = self._due_at(tap)
                if previous is not None:
                    due = max(due, previous + (DOUBLE_S if tap.kind == "double" else GAP_S))
                queue.append((due, tap))
                previous = due
            if previous is not None:
                self.busy_until[badge] = previous
        return sorted(queue, key=lambda item: (item[0], item[1].site, item[1].badge))

    def due(self) -> list[Tap]:
        """The taps whose time has come, in order (loading the next day when one is over)."""
        while not self.queue:
            self.day += timedelta(days=1)
            self.queue = self._load()
        now = time.monotonic()
        taps = []
        while self.queue and self.queue[0][0] <= now:
            taps.append(self.queue.pop(0)[1])
        return taps

    def seconds_to_next(self) -> float:
        if not self.queue:
            return 0.0
        return max(0.0, self.queue[0][0] - time.monotonic())
