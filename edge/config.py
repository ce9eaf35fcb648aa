"""The edge agent's config (FORMATS.md): only `site` and `device` are required."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from telecentre.config import Strict
from telecentre.mqtt import Tls
from telecentre.signing import TrustedKeys, parse_public_key
from telecentre.wire import Direction, Id

Pin = Annotated[int | str, Field(description="BCM GPIO number (17) or gpiozero pin name")]

#: Events the uplink hands paho (queued or in flight), per MQTT in-flight slot.
QUEUED_PER_INFLIGHT = 4
#: MQTT message ids are 16 bits and paho hands them out in turn: if as many messages as there
#: are ids awaited their acknowledgement, one ack could be taken for another event's. What the
#: uplink hands paho stays under 60,000, leaving ids to spare for status messages.
MAX_INFLIGHT = (60_000 - 1) // QUEUED_PER_INFLIGHT
#: The smallest outbox bound allowed. A tiny outbox spends itself on its own alarms (with one
#: slot, each `outbox_overflow` alarm pushes out the event before it); from this size on, the
#: events dropped at once always leave the alarm room of its own.
MIN_OUTBOX_EVENTS = 100


class Mqtt(Strict):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 1883
    username: str | None = None
    password: str | None = None
    password_file: Path | None = None
    tls: Tls | None = None
    keepalive_s: Annotated[int, Field(ge=5)] = 30
    #: Events published and not yet acknowledged by the broker, at most (MAX_INFLIGHT: 14,999).
    inflight: Annotated[int, Field(ge=1, le=MAX_INFLIGHT)] = 100
    #: An event leaves the outbox only once the hub says it holds it (`wire.Ack`), not on the
    #: broker's acknowledgement; off only for a hub too old to send acknowledgements.
    end_to_end: bool = True
    #: Events the broker acknowledged and the hub has not after this long are sent again,
    #: from the oldest (the wait doubles, up to an hour, while no acknowledgement comes).
    hub_ack_timeout_s: Annotated[float, Field(gt=0)] = 60


class Reader(Strict):
    id: Id
    type: Literal["mfrc522", "hid", "stdin"]
    direction: Direction = "toggle"
    #: Which door a granted tap on this reader unlocks (default: the first door).
    door: Id | None = None
    #: hid: the input device (`/dev/input/by-id/usb-…-event-kbd`).
    device: Path | None = None
    #: mfrc522: SPI bus and chip select, and the reset pin.
    spi_bus: int = 0
    spi_device: int = 0
    reset_pin: int | None = 25
    poll_s: Annotated[float, Field(gt=0)] = 0.1
    #: mfrc522: polls without the card before it counts as taken off the reader.
    absent_polls: Annotated[int, Field(ge=1)] = 3


class Door(Strict):
    id: Id
    sensor_pin: Pin | None = None
    strike_pin: Pin
    exit_pin: Pin | None = None
    unlock_s: Annotated[float, Field(gt=0, le=600)] = 5
    held_open_s: Annotated[float, Field(gt=0)] = 60
    #: The reed switch closes its contact when the door is shut (the usual wiring).
    sensor_closed_when_active: bool = True
    strike_active_high: bool = True


class Feedback(Strict):
    green_led_pin: Pin | None = None
    red_led_pin: Pin | None = None
    buzzer_pin: Pin | None = None
    granted_s: Annotated[float, Field(gt=0)] = 1.0
    denied_s: Annotated[float, Field(gt=0)] = 2.0
    short_beep_s: Annotated[float, Field(gt=0)] = 0.1
    long_beep_s: Annotated[float, Field(gt=0)] = 0.8


class Outbox(Strict):
    #: The oldest events are dropped, with an alarm, only past this many unsent events
    #: (at least MIN_OUTBOX_EVENTS: a smaller outbox would have its alarms push out events).
    max_events: Annotated[int, Field(ge=MIN_OUTBOX_EVENTS)] = 1_000_000


def _public_key(text: str) -> str:
    parse_public_key(text)  # ValueError says why not
    return text.strip()


#: An Ed25519 public key in base64, as `telecentre-hub keys public` prints it.
PublicKey = Annotated[str, AfterValidator(_public_key)]


class Access(Strict):
    """Whose access lists this door obeys: only lists signed by one of these hub keys."""

    #: Usually one; two while the hub's key is replaced (docs/operations.md, the key's life).
    hub_public_keys: list[PublicKey] = Field(default_factory=list)
    #: The same, one key per line (`#` starts a comment), for keys kept out of edge.yaml.
    hub_public_keys_file: Path | None = None

    @model_validator(mode="after")
    def _read_keys_file(self) -> Access:
        if self.hub_public_keys_file is None:
            return self
        source = self.hub_public_keys_file
        try:
            lines = source.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ValueError(
                f"hub_public_keys_file {source}: cannot read: {exc.strerror}"
            ) from None
        keys = []
        for number, line in enumerate(lines, start=1):
            text = line.split("#", 1)[0].strip()
            if not text:
                continue
            try:
                keys.append(_public_key(text))
            except ValueError as exc:
                raise ValueError(f"hub_public_keys_file {source}: line {number}: {exc}") from None
        object.__setattr__(self, "hub_public_keys", [*self.hub_public_keys, *keys])
        return self

    @property
    def trusted(self) -> TrustedKeys:
        return TrustedKeys.from_texts(self.hub_public_keys)


class Clock(Strict):
    #: While the clock is not NTP-synchronised, events wait in the outbox (to get their true
    #: time once it is) for at most this long with the broker reachable; then they go out as
    #: they are, `clock_synced` false, and an error is logged.
    hold_unsynced_s: Annotated[float, Field(gt=0)] = 900
    #: Take the wall clock as synchronised whatever the kernel says: only where it is right
    #: without NTP (the demo and tests on a machine, or in a container, whose kernel does not
    #: report NTP; a clock kept by other means the kernel does not know of).
    assume_synced: bool = False


class Simulation(Strict):
    #: With `pins: simulated`, one walk-through in this many leaves the door open past its
    #: `held_open_s` (the demo's door left open now and then); 0: never.
    door_left_open_every: Annotated[int, Field(ge=0)] = 0


class EdgeConfig(Strict):
    site: Id
    device: Id
    mqtt: Mqtt = Mqtt()
    state_dir: Path = Path("/var/lib/telecentre-edge")
    readers: list[Reader] = Field(default_factory=lambda: [Reader(id="stdin", type="stdin")])
    doors: list[Door] = Field(default_factory=list)
    feedback: Feedback = Feedback()
    outbox: Outbox = Outbox()
    access: Access = Access()
    clock: Clock = Clock()
    #: PROTOCOL.md: a device publishes its status at least every 60 s.
    status_interval_s: Annotated[float, Field(gt=0, le=60)] = 60
    #: `mock` runs the agent on gpiozero's MockFactory pins (bench, tests without a Pi);
    #: `simulated` adds someone walking through the door after each unlock (the demo).
    pins: Literal["auto", "mock", "simulated"] = "auto"
    simulation: Simulation = Simulation()
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @model_validator(mode="after")
    def _ids_are_unique_and_doors_exist(self) -> EdgeConfig:
        for name, ids in (
            ("readers", [r.id for r in self.readers]),
            ("doors", [d.id for d in self.doors]),
        ):
            duplicates = {i for i in ids if ids.count(i) > 1}
            if duplicates:
                raise ValueError(f"{name} ids must be unique, repeated: {sorted(duplicates)}")
        doors = {d.id for d in self.doors}
        for reader in self.readers:
            if reader.door is not None and reader.door not in doors:
                raise ValueError(f"reader {reader.id!r} names door {reader.door!r}, not in doors")
            if reader.type == "hid" and reader.device is None:
                raise ValueError(f"reader {reader.id!r} of type hid needs 'device'")
        return self
