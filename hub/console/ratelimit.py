"""Sign-in attempts limited per account and per address, in the memory of this process.

Only failures count: five wrong passwords for one login within a minute, and the sixth try
is refused even with the right password, until the minute has passed. An address that fails
on many logins is stopped too.

An attempt is counted *before* its password is checked (`attempt`), and given back only once
it succeeded (`succeeded`): thirty wrong passwords sent at once for one login are five
checks and twenty-five refusals, not thirty checks that each saw no failure yet.

>>> guard = LoginGuard()
>>> attempt = guard.attempt("marie", "192.0.2.1")
>>> attempt is not None
True
>>> guard.succeeded(attempt)
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

PER_ACCOUNT = 5
PER_ADDRESS = 20
WINDOW_S = 60.0
#: Logins and addresses remembered at most: a flood of names cannot grow the hub.
MAX_KEYS = 10_000


@dataclass(frozen=True)
class Attempt:
    account: str
    address: str
    at: float


class LoginGuard:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._counts: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def attempt(self, login: str, address: str) -> Attempt | None:
        """An attempt, counted as a failure from now on; None when the login or the address
        has failed too often within the minute (then nothing is counted)."""
        account = login.strip().lower()
        with self._lock:
            now = self._clock()
            keys = (("login", account), ("address", address))
            limits = (PER_ACCOUNT, PER_ADDRESS)
            if any(
                len(self._recent(key, now)) >= limit
                for key, limit in zip(keys, limits, strict=False)
            ):
                return None
            for key in keys:
                self._count(key).append(now)
            return Attempt(account, address, now)

    def succeeded(self, attempt: Attempt) -> None:
        """The attempt was right: it no longer counts against the login or the address."""
        with self._lock:
            for key in (("login", attempt.account), ("address", attempt.address)):
                times = self._counts.get(key)
                if times is not None and attempt.at in times:
                    times.remove(attempt.at)

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._counts.get(key, deque())
        while times and times[0] <= now - WINDOW_S:
            times.popleft()
        return times

    def _count(self, key: tuple[str, str]) -> deque[float]:
        times = self._counts.get(key)
        if times is None:
            if len(self._counts) >= MAX_KEYS:
                now = self._clock()
                for old in [k for k, v in self._counts.items() if not self._recent(k, now)]:
                    del self._counts[old]
                while len(self._counts) >= MAX_KEYS:
                    del self._counts[next(iter(self._counts))]
            times = self._counts[key] = deque()
        return times
