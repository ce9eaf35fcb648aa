"""Events stamped by a clock NTP has not synchronised yet wait in the outbox, then go out with
their true time.

While the wall clock is not synchronised, the agent stores each event with its boot's
monotonic stamp (`Outbox.append(event, unsynced=reading)`). Before each send, the uplink asks
`sendable_below()` how far in the outbox it may go:
- the clock is synchronised now: this boot's held events get their `ts` worked out from their
  monotonic stamp, all in one transaction (`Outbox.rebase`), then everything may go;
- it is not: the uplink stops before the first held event, while the events have waited
  with the broker reachable for less than `hold_unsynced_s` (NTP usually needs seconds once
  the network is there; with the link down nothing could go anyway);
- they have waited that long: NTP is out of reach (a firewall, no server), so they go out as
  they are, `clock_synced` false (`Outbox.release`), with an error in the log, and so do the
  next ones at once, until the clock synchronises: better at the hub, quarantined with
  their reason, than on the SD card.

Events held by an earlier boot (the Pi restarted before NTP came) cannot be rebased and are
never held: they go out as they are. Nothing here runs on a tap's path.

>>> hold = ClockHold(Clock(), outbox, hold_unsynced_s=900)
>>> hold.sendable_below(connected_for_s=3.0)    # the uplink sends the events below this seq
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Literal

from edge.clock import Clock
from edge.outbox import Outbox

log = logging.getLogger(__name__)


class ClockHold:
    """How far the uplink may send: this boot's events stamped unsynchronised wait for the
    clock, for a while. `now` is the clock `connected_for_s` is measured with (the uplink's)."""

    def __init__(
        self,
        clock: Clock,
        outbox: Outbox,
        hold_unsynced_s: float,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clock = clock
        self.outbox = outbox
        self.hold_unsynced_s = hold_unsynced_s
        self._now = now
        self._state: Literal["sending", "holding", "released"] = "sending"
        self._holding_since = 0.0

    def held(self) -> int:
        """Events of this boot waiting for the clock (the status shows it)."""
        return self.outbox.held(self.clock.boot_id)

    def sendable_below(self, connected_for_s: float) -> int:
        """The uplink may send the stored events with a `seq` below this one.

        `connected_for_s`: how long the broker has been reachable, without a break."""
        # Read first: any event stored from now on has a higher seq, and waits for next time.
        below = self.outbox.last_seq() + 1
        first_held = self.outbox.first_held(self.clock.boot_id)
        if first_held is None:
            if self._state == "released" and self.clock.synced():
                self._state = "sending"  # NTP is back: the next unsynchronised spell waits
            return below
        reading = self.clock.read()
        if reading.synced:
            count = self.outbox.rebase(reading)
            log.warning(
                "clock synchronised: %d events stamped while it was not have their time "
                "worked out from the boot's monotonic clock (rebased), and go out",
                count,
            )
            self._state = "sending"
            return below
        if self._state == "sending":
            self._state, self._holding_since = "holding", self._now()
            log.warning(
                "clock not synchronised (NTP): events are held back until it is, for at "
                "most %.0f s with the broker reachable (clock.hold_unsynced_s)",
                self.hold_unsynced_s,
            )
        waited_s = min(connected_for_s, self._now() - self._holding_since)
        if self._state == "released" or waited_s >= self.hold_unsynced_s:
            count = self.outbox.release(self.clock.boot_id)
            if self._state != "released":
                log.error(
                    "clock still not synchronised after %.0f s with the broker reachable: "
                    "NTP is out of reach (check `timedatectl` and the site's firewall). "
                    "Events go out with the unsynchronised clock (clock_synced false; the "
                    "hub quarantines them): %d now, the next ones as they come",
                    waited_s,
                    count,
                )
                self._state = "released"
            return below
        return first_held
