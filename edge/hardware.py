"""Builds a site's devices from its config, the way gpiozero builds devices from pins.

On a Pi the pins come from gpiozero's default factory (lgpio); with `pins: mock` they are
`MockFactory` pins, so the same agent runs on a laptop, in CI and in the demo; with
`pins: simulated` someone also walks through the door after every unlock, so the demo shows
door traffic. The `mfrc522` and `evdev` packages are imported only when a reader needs them.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import partial
from typing import IO

from gpiozero import LED, Buzzer, Device
from gpiozero.pins.mock import MockFactory

from edge.config import EdgeConfig
from edge.door import ExitButton, ReedSwitch, Strike
from edge.feedback import Feedback
from edge.readers import HidReader, Mfrc522Reader, Reader, StdinReader, spi_chip
from edge.simulation import shut_door, walk_through_after_unlock

DoorParts = tuple[Strike, ReedSwitch | None, ExitButton | None]


@dataclass
class Hardware:
    readers: list[Reader]
    doors: dict[str, DoorParts]
    feedback: Feedback


def build_hardware(config: EdgeConfig, stdin: IO[str] | None = None) -> Hardware:
    """Every reader, door and feedback device of `config`, on the configured pins."""
    if config.pins in ("mock", "simulated") and not isinstance(Device.pin_factory, MockFactory):
        Device.pin_factory = MockFactory()
    readers: list[Reader] = []
    for reader in config.readers:
        if reader.type == "stdin":
            readers.append(StdinReader(reader, stdin if stdin is not None else sys.stdin))
        elif reader.type == "hid":
            readers.append(HidReader(reader))
        else:
            readers.append(Mfrc522Reader(reader, partial(spi_chip, reader)))
    doors: dict[str, DoorParts] = {}
    for door in config.doors:
        strike = Strike(door.strike_pin, active_high=door.strike_active_high, initial_value=False)
        sensor = (
            None
            if door.sensor_pin is None
            else ReedSwitch(door.sensor_pin, closed_when_active=door.sensor_closed_when_active)
        )
        if sensor is not None and config.pins != "auto":
            shut_door(sensor)  # mock pins float: start with the door shut, as on site
        exit_button = None if door.exit_pin is None else ExitButton(door.exit_pin)
        doors[door.id] = (strike, sensor, exit_button)
    if config.pins == "simulated":
        every = config.simulation.door_left_open_every
        for door in config.doors:
            strike, sensor, _ = doors[door.id]
            if sensor is not None:
                walk_through_after_unlock(
                    strike, sensor, left_open_every=every, left_open_s=door.held_open_s + 20
                )
    feedback = config.feedback
    return Hardware(
        readers=readers,
        doors=doors,
        feedback=Feedback(
            green=None if feedback.green_led_pin is None else LED(feedback.green_led_pin),
            red=None if feedback.red_led_pin is None else LED(feedback.red_led_pin),
            buzzer=None if feedback.buzzer_pin is None else Buzzer(feedback.buzzer_pin),
            config=feedback,
        ),
    )
