"""Waiting on other threads in tests: poll a condition until it holds or a deadline passes.

Tests never assert on timing; they wait for an outcome, with a generous deadline that only
a broken program reaches.

>>> wait_until(lambda: reader.state == "error")
"""

from __future__ import annotations

import time
from collections.abc import Callable

DEFAULT_TIMEOUT_S = 5.0


def wait_until(
    predicate: Callable[[], object],
    timeout: float = DEFAULT_TIMEOUT_S,
    interval: float = 0.005,
    message: str | None = None,
) -> None:
    """Return as soon as `predicate()` is truthy; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if time.monotonic() >= deadline:
            raise AssertionError(message or f"condition not met within {timeout} s: {predicate}")
        time.sleep(interval)


def holds_for(predicate: Callable[[], object], duration: float, interval: float = 0.005) -> bool:
    """Whether `predicate()` stays truthy for the whole of `duration` seconds (sampled):
    for checking that something does *not* happen, e.g. a second event."""
    deadline = time.monotonic() + duration
    while time.monotonic() < deadline:
        if not predicate():
            return False
        time.sleep(interval)
    return bool(predicate())
