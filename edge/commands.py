"""Which door commands the agent obeys: the hub's own, once, while they are fresh.

A command opens a door with nobody checking a badge, so being able to publish on the
device's command topic must not be enough (a leaked broker account, a retained message left
on the broker). The agent obeys a command only if:

- it did not come retained (the hub never retains one: a retained command would open the
  door again at each reconnection);
- it is signed by a hub key the door trusts (the access lists' key, `telecentre/signing.py`);
- it names this site and this device (a command captured for another door does not open
  this one);
- it was issued less than its `valid_s` ago, by a clock the agent can trust (a Pi whose
  clock is not synchronised cannot tell a fresh command from an old one, so it refuses);
- its id is new: not seen since this agent started, nor issued before it started.

An obeyed command's id is kept for its whole validity counted on the monotonic clock, which
NTP never steps: were it forgotten by the wall clock, a wall clock stepped forward (then
back) would drop it while a replay could still pass the signed expiry. Past that time, the
signed expiry, checked on the wall clock as ever, refuses it.

>>> gate = CommandGate(config.access.trusted, "murat", "murat-door")
>>> gate.admit(payload, retained=False, now=datetime.now(UTC), clock_synced=True)
UnlockCommand(...)            # or raises CommandRefused (why in its message)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from telecentre import wire
from telecentre.signing import TrustedKeys

#: How far ahead of this edge's clock a command's `issued` may be: NTP keeps the hub's and
#: the Pi's clocks within a second of each other.
CLOCK_SKEW = timedelta(seconds=5)


class CommandRefused(ValueError):
    """A command the agent does not obey; `command` is set when it was the hub's own (signed)
    and the hub should hear why (expired, unsynchronised clock), None otherwise."""

    def __init__(self, reason: str, command: wire.UnlockCommand | None = None) -> None:
        super().__init__(reason)
        self.command = command


class CommandGate:
    """The checks above, and the ids of the commands obeyed while they could still be
    replayed. `monotonic` reads seconds on a clock NTP never steps (the agent gives its boot
    clock's; tests a clock of their own)."""

    def __init__(
        self,
        trusted: TrustedKeys,
        site: str,
        device: str,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.trusted, self.site, self.device = trusted, site, device
        self._monotonic = monotonic
        self._started_monotonic = monotonic()
        self._seen: dict[str, float] = {}  # command id -> monotonic second it is forgotten at
        self._lock = threading.Lock()

    def admit(
        self, payload: bytes, *, retained: bool, now: datetime, clock_synced: bool
    ) -> wire.UnlockCommand:
        """The command to obey; `CommandRefused` (or `wire.ProtocolError`, for a payload that
        is not a signed command) says why not."""
        if retained:
            raise CommandRefused("it came retained (the hub never retains a command)")
        data = wire.command_data(payload)
        self.trusted.check(data, "command")
        command = wire.parse_command(data)
        if (command.site, command.device) != (self.site, self.device):
            raise CommandRefused(
                f"it is for {command.site}/{command.device}, this is {self.site}/{self.device}"
            )
        if command.issued is None or command.valid_s is None:
            raise CommandRefused("fields 'issued' and 'valid_s' are required")
        if not clock_synced:
            raise CommandRefused(
                "this edge's clock is not synchronised (NTP): it cannot tell a fresh command "
                "from an old one",
                command,
            )
        issued, expires = command.issued, command.issued + timedelta(seconds=command.valid_s)
        if issued > now + CLOCK_SKEW:
            raise CommandRefused(
                f"issued at {issued.isoformat()}, ahead of this edge's clock ({now.isoformat()})",
                command,
            )
        if now > expires:
            raise CommandRefused(f"expired at {expires.isoformat()}", command)
        monotonic = self._monotonic()
        started = now - timedelta(seconds=monotonic - self._started_monotonic)
        if issued < started:
            raise CommandRefused("issued before this agent started: a replay")
        with self._lock:
            self._seen = {key: until for key, until in self._seen.items() if until >= monotonic}
            if command.id in self._seen:
                raise CommandRefused(f"command {command.id} was obeyed already: a replay")
            # Its whole validity, from an `issued` up to CLOCK_SKEW ahead of `now` to a
            # wall clock up to CLOCK_SKEW behind: whatever the wall clock said or will say.
            self._seen[command.id] = monotonic + command.valid_s + 2 * CLOCK_SKEW.total_seconds()
        return command
