"""Sign-in attempts limited per account and per address (the `limits` library, which
Flask-Limiter is built on), in the memory of this process.

Only failures count: five wrong passwords for one login within a minute, and the sixth try
is refused even with the right password, until the minute has passed. An address that fails
on many logins is stopped too.

>>> guard = LoginGuard()
>>> guard.allowed("marie", "192.0.2.1")
True
"""

from __future__ import annotations

from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

PER_ACCOUNT = parse("5/minute")
PER_ADDRESS = parse("20/minute")


class LoginGuard:
    def __init__(self) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def allowed(self, login: str, address: str) -> bool:
        return self._limiter.test(PER_ACCOUNT, "login", login.strip().lower()) and (
            self._limiter.test(PER_ADDRESS, "address", address)
        )

    def failed(self, login: str, address: str) -> None:
        self._limiter.hit(PER_ACCOUNT, "login", login.strip().lower())
        self._limiter.hit(PER_ADDRESS, "address", address)
