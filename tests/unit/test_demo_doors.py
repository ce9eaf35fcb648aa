"""What the demo asks of its simulated doors: one walk-through in N leaves the door open past
its limit (a `door_held_open` alarm now and then), and a door's outbox numbers its events on
from the past the demo imported for it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from edge.door import ReedSwitch, Strike
from edge.outbox import Outbox
from edge.simulation import shut_door, walk_through_after_unlock
from tests.waiting import wait_until


@pytest.fixture
def door() -> Iterator[tuple[Strike, ReedSwitch]]:
    Device.pin_factory = MockFactory()
    strike, sensor = Strike(27, initial_value=False), ReedSwitch(17)
    shut_door(sensor)
    yield strike, sensor
    strike.close()
    sensor.close()
    Device.pin_factory.reset()


def _open_for(strike: Strike, sensor: ReedSwitch) -> float:
    """Release the strike for a moment; how long the visitor then holds the door open."""
    strike.on()
    wait_until(lambda: not sensor.door_closed, timeout=5)
    opened = time.monotonic()
    strike.off()
    wait_until(lambda: sensor.door_closed, timeout=5)
    held = time.monotonic() - opened
    time.sleep(0.2)  # locked a while, as between two people (the visitor polls at 20 Hz)
    return held


def test_one_walk_through_in_n_leaves_the_door_open(door: tuple[Strike, ReedSwitch]) -> None:
    strike, sensor = door
    walk_through_after_unlock(
        strike, sensor, after_s=0.01, open_s=0.05, left_open_every=3, left_open_s=0.6
    )
    held = [_open_for(strike, sensor) for _ in range(3)]
    assert held[0] < 0.4 and held[1] < 0.4
    assert held[2] >= 0.55


def test_an_outbox_numbers_on_from_an_imported_past(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.db")
    assert box.append({"v": 1, "type": "door"})["seq"] == 1
    box.continue_after(5000)
    assert box.append({"v": 1, "type": "door"})["seq"] == 5001
    box.continue_after(10)  # never back
    assert box.append({"v": 1, "type": "door"})["seq"] == 5002
    assert box.last_seq() == 5002
    box.close()
