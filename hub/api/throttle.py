"""Failed authentications, counted per client address: past `limit` failures within
`window_s`, the address gets 429 with `Retry-After`, whatever token it sends, until its
oldest failure of the window is that old. Guessing a token then takes years, not minutes.

The table is bounded (`max_addresses`), so a flood of addresses cannot grow the hub; behind
a proxy, `http.trusted_proxies` makes the address the client's, not the proxy's.
The console's login form can use the same class for its own failures.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from flask import request

from hub.api.errors import ApiError


class FailedAuth:
    def __init__(
        self,
        *,
        limit: int = 10,
        window_s: float = 60.0,
        max_addresses: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_addresses = max_addresses
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, address: str) -> int | None:
        """Whole seconds `address` must wait, or None if it may try now."""
        with self._lock:
            failures = self._recent(address, self.clock())
            if failures is None or len(failures) < self.limit:
                return None
            return max(1, math.ceil(failures[0] + self.window_s - self.clock()))

    def failed(self, address: str) -> None:
        with self._lock:
            now = self.clock()
            failures = self._recent(address, now)
            if failures is None:
                if len(self._failures) >= self.max_addresses:
                    self._forget_oldest(now)
                failures = self._failures[address] = deque(maxlen=self.limit)
            failures.append(now)

    def _recent(self, address: str, now: float) -> deque[float] | None:
        failures = self._failures.get(address)
        if failures is None:
            return None
        while failures and failures[0] <= now - self.window_s:
            failures.popleft()
        if not failures:
            del self._failures[address]
            return None
        return failures

    def _forget_oldest(self, now: float) -> None:
        for address in list(self._failures):
            self._recent(address, now)
        while len(self._failures) >= self.max_addresses:
            del self._failures[next(iter(self._failures))]


def client_address() -> str:
    return request.remote_addr or "unknown"


def refuse_if_locked_out(failures: FailedAuth) -> None:
    """Before a token is even looked at: 429 for an address past its failures."""
    wait = failures.retry_after(client_address())
    if wait is not None:
        raise ApiError(
            429,
            f"too many failed authentications from this address; try again in {wait} s",
            {"Retry-After": str(wait)},
        )
