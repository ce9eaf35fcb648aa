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
    strike: Strike, sensor: ReedSwitch, after_s: float = 0.5, open_s: float = 2.0
) -> threading.Thread:
    """Each time the strike releases, someone opens the door a moment later and lets it shut."""

    def watch() -> None:
        was_unlocked = False
        while not strike.closed:
            unlocked = bool(strike.value)
            if unlocked and not was_unlocked:
                time.sleep(after_s)
                open_door(sensor)
                time.sleep(open_s)
                shut_door(sensor)
            was_unlocked = unlocked
            time.sleep(0.05)

    thread = threading.Thread(target=watch, name="simulated-visitor", daemon=True)
    thread.start()
    return thread
