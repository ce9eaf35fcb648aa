"""People and doors for `MockFactory` pins: what the demo, the tests and the bench drive."""

from __future__ import annotations

import threading
import time

from gpiozero.pins.mock import MockPin

from edge.door import ReedSwitch, Strike


def _mock_pin(sensor: ReedSwitch) -> MockPin:
    pin = sensor.pin
    if not isinstance(pin, MockPin):
        raise TypeError("door simulation needs MockFactory pins (config 'pins: mock')")
    return pin


def shut_door(sensor: ReedSwitch) -> None:
    """Set the reed switch as a shut door sets it."""
    pin = _mock_pin(sensor)
    pin.drive_low() if sensor.closed_when_active else pin.drive_high()


def open_door(sensor: ReedSwitch) -> None:
    pin = _mock_pin(sensor)
    pin.drive_high() if sensor.closed_when_active else pin.drive_low()


def walk_through_after_unlock(
    strike: Strike,
    sensor: ReedSwitch,
    after_s: float = 0.5,
    open_s: float = 2.0,
    left_open_every: int = 0,
    left_open_s: float = 0.0,
) -> threading.Thread:
    """Each time the strike releases, someone opens the door a moment later and lets it shut;
    one in `left_open_every` (0: none) leaves it open for `left_open_s`."""

    def watch() -> None:
        was_unlocked = False
        walks = 0
        while not strike.closed:
            unlocked = bool(strike.value)
            if unlocked and not was_unlocked:
                walks += 1
                left_open = left_open_every > 0 and walks % left_open_every == 0
                time.sleep(after_s)
                open_door(sensor)
                time.sleep(left_open_s if left_open else open_s)
                shut_door(sensor)
            was_unlocked = unlocked
            time.sleep(0.05)

    thread = threading.Thread(target=watch, name="simulated-visitor", daemon=True)
    thread.start()
    return thread
