"""Limits on the member sign-in (the `limits` library, in this process's memory, as the staff
sign-in's `hub.console.ratelimit`): links asked per address typed and per client address,
and wrong codes per client address. A limit reached says so, for a known address or not
alike, so it tells nothing of who is a member.
"""

from __future__ import annotations

from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

GUARD = "telecentre.member_space.guard"
LINKS_PER_EMAIL = parse("3/15minutes")
LINKS_PER_ADDRESS = parse("10/15minutes")
WRONG_CODES_PER_ADDRESS = parse("10/15minutes")


class MemberGuard:
    def __init__(self) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def ask_link(self, email: str, address: str) -> bool:
        """Count one request for a link; False when over either limit (then no mail)."""
        email = email.strip().lower()
        if not (
            self._limiter.test(LINKS_PER_EMAIL, "email", email)
            and self._limiter.test(LINKS_PER_ADDRESS, "address", address)
        ):
            return False
        self._limiter.hit(LINKS_PER_EMAIL, "email", email)
        self._limiter.hit(LINKS_PER_ADDRESS, "address", address)
        return True

    def may_try_code(self, address: str) -> bool:
        return self._limiter.test(WRONG_CODES_PER_ADDRESS, "code", address)

    def wrong_code(self, address: str) -> None:
        self._limiter.hit(WRONG_CODES_PER_ADDRESS, "code", address)
