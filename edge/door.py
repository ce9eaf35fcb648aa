"""A site's door: its strike, its reed switch, its request-to-exit button, and their alarms.

Devices take their pins from gpiozero's pin factory, so the same code drives a real Pi and
`MockFactory` pins in tests and in the demo.

>>> door = Door(config, Strike(27), ReedSwitch(17), ExitButton(22), events)
>>> door.unlock()            # strike on for config.unlock_s, then locked again
>>> door.state
'closed'
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Literal, Protocol

from gpiozero import Button, DigitalInputDevice, DigitalOutputDevice

from edge.config import Door as DoorConfig

log = logging.getLogger(__name__)

DoorState = Literal["open", "closed"]


class Strike(DigitalOutputDevice):  # type: ignore[misc]
    """The electric strike's relay: active means the door can be pushed open."""


class ReedSwitch(DigitalInputDevice):  # type: ignore[misc]
    """The door contact, wired to ground with the Pi's pull-up."""

    def __init__(self, pin: int | str, closed_when_active: bool = True) -> None:
        super().__init__(pin, pull_up=True)
        self.closed_when_active = closed_when_active

    @property
    def door_closed(self) -> bool:
        return bool(self.is_active) == self.closed_when_active


class ExitButton(Button):  # type: ignore[misc]
    """The request-to-exit button inside, wired to ground with the Pi's pull-up."""


class DoorEvents(Protocol):
    """Where a door reports what happens to it (the agent turns these into wire events)."""

    def door_changed(self, door: str, state: DoorState) -> None: ...
    def alarm(self, door: str, kind: Literal["door_forced", "door_held_open"]) -> None: ...
    def exit_requested(self, door: str) -> None: ...


class Door:
    """Unlocks on demand, relocks after `unlock_s` or as soon as the door shuts again, and
    raises `door_forced` (opened outside an unlock window) and `door_held_open` (open longer
    than `held_open_s`)."""

    def __init__(
        self,
        config: DoorConfig,
        strike: Strike,
        sensor: ReedSwitch | None,
        exit_button: ExitButton | None,
        events: DoorEvents,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.id = config.id
        self.config = config
        self.strike = strike
        self.sensor = sensor
        self.exit_button = exit_button
        self.events = events
        self._monotonic = monotonic
        self._lock = threading.RLock()
        self._unlocked_until = 0.0
        self._relock: threading.Timer | None = None
        self._unlocks = 0  # unlocks so far: which relock timer is the current one
        self._held_open: threading.Timer | None = None
        self._state: DoorState = "closed"
        if sensor is not None:
            self._state = "closed" if sensor.door_closed else "open"
            sensor.when_activated = self._sensor_changed
            sensor.when_deactivated = self._sensor_changed
        if exit_button is not None:
            exit_button.when_pressed = self._exit_pressed

    @property
    def state(self) -> DoorState:
        return self._state

    @property
    def unlocked(self) -> bool:
        return bool(self.strike.is_active)

    def unlock(self, seconds: float | None = None) -> None:
        """Release the strike now; a second unlock while open extends the window."""
        seconds = self.config.unlock_s if seconds is None else seconds
        with self._lock:
            self.strike.on()
            self._unlocked_until = self._monotonic() + seconds
            self._restart_relock_timer(seconds)

    def lock(self) -> None:
        with self._lock:
            self.strike.off()
            self._unlocked_until = 0.0
            if self._relock is not None:
                self._relock.cancel()
                self._relock = None

    def _restart_relock_timer(self, seconds: float) -> None:
        if self._relock is not None:
            self._relock.cancel()
        self._unlocks += 1
        self._relock = threading.Timer(seconds, self._relock_due, args=(self._unlocks,))
        self._relock.daemon = True
        self._relock.start()

    def _relock_due(self, unlock: int) -> None:
        """The relock timer of the `unlock`-th unlock. `cancel()` cannot stop a timer that is
        already running (waiting for the lock while `unlock()` holds it): such a timer must not
        cut short the window that the newer unlock just opened."""
        with self._lock:
            if unlock == self._unlocks:
                self.lock()

    def _exit_pressed(self) -> None:
        log.info("door %s: exit button pressed", self.id)
        self.unlock()
        self.events.exit_requested(self.id)

    def _sensor_changed(self) -> None:
        assert self.sensor is not None
        state: DoorState = "closed" if self.sensor.door_closed else "open"
        with self._lock:
            if state == self._state:
                return
            self._state = state
            authorised = self._monotonic() <= self._unlocked_until
            if state == "open":
                self._start_held_open_timer()
            else:
                self._cancel_held_open_timer()
                self.lock()  # shut again: the unlock window is used up
        self.events.door_changed(self.id, state)
        if state == "open" and not authorised:
            log.warning("door %s: opened without a grant or exit request", self.id)
            self.events.alarm(self.id, "door_forced")

    def _start_held_open_timer(self) -> None:
        self._cancel_held_open_timer()
        self._held_open = threading.Timer(self.config.held_open_s, self._held_open_too_long)
        self._held_open.daemon = True
        self._held_open.start()

    def _cancel_held_open_timer(self) -> None:
        if self._held_open is not None:
            self._held_open.cancel()
            self._held_open = None

    def _held_open_too_long(self) -> None:
        with self._lock:
            if self._state != "open":
                return
        log.warning("door %s: held open longer than %s s", self.id, self.config.held_open_s)
        self.events.alarm(self.id, "door_held_open")

    def close(self) -> None:
        self.lock()
        self._cancel_held_open_timer()
        for device in (self.strike, self.sensor, self.exit_button):
            if device is not None:
                device.close()
