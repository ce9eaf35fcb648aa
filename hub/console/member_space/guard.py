"""Limits on the member sign-in (the `limits` library, in this process's memory, as the staff
sign-in's `hub.console.ratelimit`): links asked per address typed and per client address,
and codes tried per client address. A limit reached says so, for a known address or not
alike, so it tells nothing of who is a member.

Each request is counted before its work, in one step that refuses it over the limit (the
storage's `hit` takes a lock): requests sent at once cannot all pass a test made before
any of them is counted. A code is counted whether it turns out right or wrong.
"""

from __future__ import annotations

from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

GUARD = "telecentre.member_space.guard"
LINKS_PER_EMAIL = parse("3/15minutes")
LINKS_PER_ADDRESS = parse("10/15minutes")
CODES_PER_ADDRESS = parse("10/15minutes")


class MemberGuard:
    def __init__(self) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def ask_link(self, email: str, address: str) -> bool:
        """Count one request for a link; False when over either limit (then no mail). The
        client's address first: one over its limit does not use up the address typed."""
        email = email.strip().lower()
        return self._limiter.hit(LINKS_PER_ADDRESS, "address", address) and self._limiter.hit(
            LINKS_PER_EMAIL, "email", email
        )

    def try_code(self, address: str) -> bool:
        """Count one code typed from `address`; False when over the limit (then not tried)."""
        return self._limiter.hit(CODES_PER_ADDRESS, "code", address)
