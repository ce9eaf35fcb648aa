"""The whole edge agent on gpiozero MockFactory pins: taps, the door, alarms, commands.

The agent is built as `telecentre-edge` builds it (edge/__main__.py): config loaded by
`load_config`, devices by `build_hardware`, then `Agent`. Badges are typed on its stdin
reader through a pipe. Most tests point the uplink at a closed port (the rural link is
down: decisions must not need it, and every event stays in the outbox where the test reads
it); the last ones run against a real Mosquitto.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sqlite3
import subprocess
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
import pytest
import yaml
from gpiozero import Device
from gpiozero.pins.mock import MockFactory, MockPin
from paho.mqtt.enums import CallbackAPIVersion

import edge.uplink
from edge.agent import Agent
from edge.clock import Clock
from edge.config import EdgeConfig
from edge.hardware import Hardware, build_hardware
from edge.readers import Mfrc522Reader
from telecentre import wire
from telecentre.config import load_config
from tests.keys import FORGER_KEY, HUB_KEY, edge_access_config, signed, signed_command
from tests.servers import Mosquitto, free_port
from tests.waiting import holds_for, wait_until

SITE, DEVICE = "murat", "murat-door"
SENSOR, STRIKE, EXIT = 17, 27, 22
GREEN, RED, BUZZER = 5, 6, 13

MEMBER = "04A2B3C4"  # hours: always
EXPIRED = "0BADBEEF"  # until: ten days ago
DAYTIME = "0C0FFEE0"  # hours: opening, and the list has no opening hours: never open
STRANGER = "DEADBEEF"  # not on the list

Event = wire.BadgeEvent | wire.DoorEvent | wire.AlarmEvent | wire.ExitRequestEvent


def access_list(version: int = 1, **extra: Any) -> bytes:
    today = datetime.now(ZoneInfo("Europe/Paris")).date()
    payload = {
        "v": 1,
        "site": SITE,
        "version": version,
        "issued": "2026-11-22T08:00:00+01:00",
        "opening": {},
        "badges": [
            {"badge": MEMBER, "until": None, "hours": "always"},
            {"badge": EXPIRED, "until": str(today - timedelta(days=10)), "hours": "always"},
            {"badge": DAYTIME, "until": None, "hours": "opening"},
        ],
    } | extra
    return signed(payload)


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture
def pins() -> Iterator[MockFactory]:
    """Fresh mock pins for each test, and gpiozero's factory as it was afterwards."""
    previous = Device.pin_factory
    factory = MockFactory()
    Device.pin_factory = factory
    yield factory
    factory.reset()
    Device.pin_factory = previous


def pin(factory: MockFactory, number: int) -> MockPin:
    mock: MockPin = factory.pin(number)
    return mock


def went_high(mock: MockPin) -> bool:
    """Whether the pin was ever high since the test began (MockPin keeps its history)."""
    return any(state.state for state in mock.states)


class Site:
    """One running agent, its stdin pipe and its pins."""

    def __init__(self, agent: Agent, keyboard: IO[str], pins: MockFactory) -> None:
        self.agent = agent
        self.keyboard = keyboard
        self.pins = pins
        self.stopped = False

    @property
    def strike(self) -> MockPin:
        return pin(self.pins, STRIKE)

    @property
    def reed(self) -> MockPin:
        return pin(self.pins, SENSOR)

    def tap(self, badge: str) -> None:
        self.keyboard.write(f"{badge}\n")
        self.keyboard.flush()

    def events(self) -> list[Event]:
        topic = wire.events_topic(SITE, DEVICE)
        return [
            wire.parse_event(payload, topic=topic)
            for _, payload in self.agent.outbox.pending(0, 1000)
        ]

    def wait_for(self, predicate: Callable[[Event], bool], count: int = 1) -> list[Event]:
        """Wait until `count` stored events match; return them."""
        wait_until(
            lambda: len([e for e in self.events() if predicate(e)]) >= count,
            message=f"fewer than {count} matching events; got {self.events()}",
        )
        return [e for e in self.events() if predicate(e)]

    def badge_events(self, count: int = 1) -> list[wire.BadgeEvent]:
        found = self.wait_for(lambda e: isinstance(e, wire.BadgeEvent), count)
        return [e for e in found if isinstance(e, wire.BadgeEvent)]

    def alarms(self) -> list[tuple[str | None, str]]:
        return [(e.door, e.kind) for e in self.events() if isinstance(e, wire.AlarmEvent)]

    def door_states(self) -> list[str]:
        return [e.state for e in self.events() if isinstance(e, wire.DoorEvent)]

    def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            self.agent.stop()
            self.keyboard.close()


MakeSite = Callable[..., Site]


@pytest.fixture
def silent_hub() -> Iterator[int]:
    """A port where TCP connects but no broker ever answers: the link to the hub is down.

    (A refused port would do as well for the agent, but paho then sleeps in its reconnect
    back-off and every agent stop waits for it.)"""
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen(64)
        yield int(listening.getsockname()[1])


@pytest.fixture
def make_site(tmp_path: Path, pins: MockFactory, silent_hub: int) -> Iterator[MakeSite]:
    """`make_site(door={...}, mqtt_port=..., **config)`: a started agent on mock pins."""
    sites: list[Site] = []

    def make(
        door: dict[str, Any] | None = None,
        mqtt_port: int | None = None,
        list_payload: bytes | None = access_list(),
        state_dir: Path | None = None,
        clock_synced: bool = True,
        hardware_hook: Callable[[Hardware, EdgeConfig], None] | None = None,
        **config: Any,
    ) -> Site:
        document: dict[str, Any] = {
            "site": SITE,
            "device": DEVICE,
            "pins": "mock",
            "state_dir": str(state_dir or tmp_path / "state"),
            "mqtt": {"host": "127.0.0.1", "port": mqtt_port or silent_hub, "keepalive_s": 5},
            "readers": [{"id": "entrance", "type": "stdin", "direction": "in", "door": "main"}],
            "doors": [
                {
                    "id": "main",
                    "sensor_pin": SENSOR,
                    "strike_pin": STRIKE,
                    "exit_pin": EXIT,
                    "unlock_s": 30,
                    "held_open_s": 60,
                    "sensor_closed_when_active": True,
                }
                | (door or {})
            ],
            "feedback": {
                "green_led_pin": GREEN,
                "red_led_pin": RED,
                "buzzer_pin": BUZZER,
            },
            "access": edge_access_config(),
        } | config
        path = tmp_path / f"edge-{len(sites)}.yaml"
        path.write_text(yaml.safe_dump(document), encoding="utf-8")
        edge_config = load_config(EdgeConfig, path, environ={})
        read_fd, write_fd = os.pipe()
        stdin = os.fdopen(read_fd, "r", encoding="utf-8")
        keyboard = os.fdopen(write_fd, "w", encoding="utf-8")
        hardware = build_hardware(edge_config, stdin=stdin)
        if hardware_hook is not None:
            hardware_hook(hardware, edge_config)
        agent = Agent(edge_config, hardware, clock=Clock(synced=lambda: clock_synced))
        site = Site(agent, keyboard, pins)
        sites.append(site)
        if list_payload is not None:
            # The list the door holds from before (taken while its clock was right).
            assert agent.access.apply(list_payload, SITE) == "applied"
        agent.start()
        return site

    yield make
    for site in sites:
        site.stop()


# --- taps ---------------------------------------------------------------------------------


def test_granted_badge_unlocks_then_relocks_after_unlock_s(make_site: MakeSite) -> None:
    site = make_site(door={"unlock_s": 0.3})
    assert site.strike.state is False
    assert site.agent.doors["main"].state == "closed"
    site.tap("04:a2:b3:c4")
    wait_until(lambda: site.strike.state is True)
    wait_until(lambda: went_high(pin(site.pins, GREEN)))
    wait_until(lambda: went_high(pin(site.pins, BUZZER)))
    (event,) = site.badge_events()
    assert (event.badge, event.access, event.reason) == (MEMBER, "granted", None)
    assert (event.reader, event.direction, event.site, event.device) == (
        "entrance",
        "in",
        SITE,
        DEVICE,
    )
    assert event.clock_synced is True
    assert event.seq == 1
    wait_until(lambda: site.strike.state is False)  # relocked after unlock_s, door unused
    assert not went_high(pin(site.pins, RED))
    assert site.alarms() == []


@pytest.mark.parametrize(
    ("badge", "reason"),
    [(STRANGER, "unknown"), (EXPIRED, "expired"), (DAYTIME, "outside_hours")],
)
def test_denied_badge_shows_red_and_never_unlocks(
    make_site: MakeSite, badge: str, reason: str
) -> None:
    site = make_site()
    site.tap(badge)
    (event,) = site.badge_events()
    assert (event.badge, event.access, event.reason) == (badge, "denied", reason)
    wait_until(lambda: went_high(pin(site.pins, RED)))
    wait_until(lambda: went_high(pin(site.pins, BUZZER)))
    assert not went_high(site.strike)
    assert not went_high(pin(site.pins, GREEN))
    assert site.agent.doors["main"].unlocked is False


def test_decisions_work_with_the_broker_refusing_connections(make_site: MakeSite) -> None:
    site = make_site(mqtt_port=free_port())  # nothing listens there
    site.tap(MEMBER)
    site.tap(STRANGER)
    events = site.badge_events(2)
    assert [(e.badge, e.access) for e in events] == [(MEMBER, "granted"), (STRANGER, "denied")]
    assert went_high(site.strike)
    assert site.agent.uplink.connected.is_set() is False
    assert site.agent.outbox.depth() == 2


def test_without_any_access_list_every_badge_is_denied_unknown(make_site: MakeSite) -> None:
    site = make_site(list_payload=None)
    site.tap(MEMBER)
    (event,) = site.badge_events()
    assert (event.access, event.reason) == ("denied", "unknown")
    assert not went_high(site.strike)


def test_taps_are_numbered_in_order_and_carry_clock_state(make_site: MakeSite) -> None:
    site = make_site(clock_synced=False)
    for badge in (STRANGER, MEMBER, EXPIRED):
        site.tap(badge)
    events = site.badge_events(3)
    assert [(e.seq, e.badge, e.access) for e in events] == [
        (1, STRANGER, "denied"),
        (2, MEMBER, "granted"),
        (3, EXPIRED, "denied"),
    ]
    assert [e.clock_synced for e in events] == [False, False, False]
    assert len({e.id for e in events}) == 3


def test_newer_access_list_revokes_a_badge(make_site: MakeSite) -> None:
    site = make_site()
    site.agent.apply_access_list(access_list(version=2, badges=[]))
    site.agent.apply_access_list(access_list(version=1))  # stale: ignored
    site.agent.apply_access_list(b"{broken")  # malformed: ignored, no crash
    site.agent.apply_access_list(access_list(version=3, site="aurillac"))  # not ours
    assert site.agent.access.version == 2
    site.tap(MEMBER)
    (event,) = site.badge_events()
    assert (event.access, event.reason) == ("denied", "revoked")
    assert not went_high(site.strike)


# --- the door -----------------------------------------------------------------------------


def test_exit_button_unlocks_and_reports_an_exit_request(make_site: MakeSite) -> None:
    site = make_site(door={"unlock_s": 0.3})
    pin(site.pins, EXIT).drive_low()  # pressed
    wait_until(lambda: site.strike.state is True)
    (event,) = site.wait_for(lambda e: isinstance(e, wire.ExitRequestEvent))
    assert isinstance(event, wire.ExitRequestEvent)
    assert (event.door, event.seq) == ("main", 1)
    pin(site.pins, EXIT).drive_high()  # released
    wait_until(lambda: site.strike.state is False)
    assert site.alarms() == []


def test_door_opened_without_a_grant_is_forced(make_site: MakeSite) -> None:
    site = make_site()
    site.reed.drive_high()  # the magnet leaves the reed switch: the door is open
    site.wait_for(lambda e: isinstance(e, wire.AlarmEvent))
    events = site.events()
    assert [(type(e).__name__, e.seq) for e in events] == [("DoorEvent", 1), ("AlarmEvent", 2)]
    assert site.door_states() == ["open"]
    assert site.alarms() == [("main", "door_forced")]
    assert site.agent.doors["main"].state == "open"
    assert not went_high(site.strike)
    site.reed.drive_low()
    site.wait_for(lambda e: isinstance(e, wire.DoorEvent), count=2)
    assert site.door_states() == ["open", "closed"]
    assert site.alarms() == [("main", "door_forced")]


def test_door_opened_within_the_unlock_window_is_no_alarm(make_site: MakeSite) -> None:
    site = make_site()  # unlock_s 30: the door is opened well within the window
    site.tap(MEMBER)
    wait_until(lambda: site.strike.state is True)
    site.reed.drive_high()
    site.wait_for(lambda e: isinstance(e, wire.DoorEvent))
    site.reed.drive_low()
    site.wait_for(lambda e: isinstance(e, wire.DoorEvent), count=2)
    assert site.door_states() == ["open", "closed"]
    assert site.alarms() == []


def test_door_opened_after_an_exit_request_is_no_alarm(make_site: MakeSite) -> None:
    site = make_site()
    pin(site.pins, EXIT).drive_low()
    site.wait_for(lambda e: isinstance(e, wire.ExitRequestEvent))
    pin(site.pins, EXIT).drive_high()
    site.reed.drive_high()
    site.wait_for(lambda e: isinstance(e, wire.DoorEvent))
    assert site.alarms() == []


def test_door_opened_after_the_window_closed_is_forced(make_site: MakeSite) -> None:
    site = make_site(door={"unlock_s": 0.3})
    site.tap(MEMBER)
    wait_until(lambda: site.strike.state is True)
    wait_until(lambda: site.strike.state is False)  # nobody came: relocked
    site.reed.drive_high()
    site.wait_for(lambda e: isinstance(e, wire.AlarmEvent))
    assert site.alarms() == [("main", "door_forced")]


def test_door_held_open_past_the_limit_raises_an_alarm(make_site: MakeSite) -> None:
    site = make_site(door={"held_open_s": 0.3})
    site.tap(MEMBER)
    wait_until(lambda: site.strike.state is True)
    site.reed.drive_high()
    site.wait_for(lambda e: isinstance(e, wire.AlarmEvent))
    assert site.alarms() == [("main", "door_held_open")]
    assert site.agent.doors["main"].state == "open"
    site.reed.drive_low()
    site.wait_for(lambda e: isinstance(e, wire.DoorEvent), count=2)
    assert site.door_states() == ["open", "closed"]
    assert site.alarms() == [("main", "door_held_open")]


def test_closing_the_door_relocks_the_strike_at_once(make_site: MakeSite) -> None:
    site = make_site()  # unlock_s 30: only the door shutting can relock within the wait
    site.tap(MEMBER)
    wait_until(lambda: site.strike.state is True)
    site.reed.drive_high()
    site.wait_for(lambda e: isinstance(e, wire.DoorEvent))
    assert site.strike.state is True  # open door: the strike stays released
    site.reed.drive_low()
    wait_until(lambda: site.strike.state is False)
    (closed,) = site.wait_for(lambda e: isinstance(e, wire.DoorEvent) and e.state == "closed")
    assert isinstance(closed, wire.DoorEvent)
    assert closed.door == "main"
    assert site.agent.doors["main"].state == "closed"
    assert site.agent.doors["main"].unlocked is False
    # The window is used up: opening again now is forced.
    site.reed.drive_high()
    site.wait_for(lambda e: isinstance(e, wire.AlarmEvent))
    assert site.alarms() == [("main", "door_forced")]


def test_reed_switch_wired_the_other_way(make_site: MakeSite) -> None:
    site = make_site(door={"sensor_closed_when_active": False})
    assert site.agent.doors["main"].state == "closed"
    site.reed.drive_low()  # contact opens... wired reversed: low is open
    site.wait_for(lambda e: isinstance(e, wire.AlarmEvent))
    assert site.door_states() == ["open"]
    assert site.alarms() == [("main", "door_forced")]


def test_status_reports_readers_doors_and_queue(make_site: MakeSite) -> None:
    site = make_site()
    status = site.agent.status("online")
    assert (status.site, status.device, status.state) == (SITE, DEVICE, "online")
    assert (status.readers, status.doors, status.queue) == (
        {"entrance": "ok"},
        {"main": "closed"},
        0,
    )
    site.reed.drive_high()
    site.wait_for(lambda e: isinstance(e, wire.AlarmEvent))
    status = wire.parse_status(wire.encode(site.agent.status("online")))
    assert (status.doors, status.queue) == ({"main": "open"}, 2)


# --- commands -----------------------------------------------------------------------------


def command(**changes: Any) -> bytes:
    """An unlock of this site's door, signed by the hub's key (`changes`: see signed_command)."""
    return signed_command(**({"site": SITE, "device": DEVICE} | changes))


def test_remote_unlock_releases_the_strike_for_its_seconds(make_site: MakeSite) -> None:
    site = make_site()  # unlock_s 30: the command's own 0.5 s must apply
    site.agent.run_command(command(seconds=0.5))
    assert site.strike.state is True
    wait_until(lambda: site.strike.state is False)
    # The unlock window covers an opening within it: no alarm, just the door events.
    site.agent.run_command(command(seconds=30))
    site.reed.drive_high()
    site.wait_for(lambda e: isinstance(e, wire.DoorEvent))
    assert site.alarms() == []


def _altered(**changes: Any) -> bytes:
    """A genuine command changed after it was signed."""
    return wire.encode(json.loads(command()) | changes)


def _unsigned() -> bytes:
    data = json.loads(command())
    return wire.encode({k: v for k, v in data.items() if k not in ("sig", "key_id")})


def _ago(seconds: float) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("make_payload", "reason"),
    [
        (lambda: b'{"v":1,"id":"c1","cmd":"reboot","door":"main"}', "is not signed"),
        (lambda: HUB_KEY.sign_command(json.loads(command()) | {"cmd": "reboot"}), "unknown"),
        (lambda: b'{"v":1,"id":"c1","cmd":"unlock","door":"main"}', "the command is not signed"),
        (_unsigned, "the command is not signed"),
        (lambda: command(key=FORGER_KEY), "which this edge does not trust"),
        (lambda: _altered(seconds=600), "the signature does not hold"),
        (lambda: command(door="back"), "no door 'back'"),
        (lambda: command(device="murat-back"), "it is for murat/murat-back"),
        (lambda: command(site="ydes"), "it is for ydes/murat-door"),
        (lambda: command(issued=_ago(31)), "expired at"),  # valid 30 s
        (lambda: command(issued=_ago(-300)), "ahead of this edge's clock"),
        (lambda: b"not json", "not UTF-8 JSON"),
        (lambda: b"[]", "not a JSON object"),
    ],
)
def test_bad_commands_are_ignored(
    make_site: MakeSite,
    make_payload: Callable[[], bytes],
    reason: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    site = make_site()
    with caplog.at_level(logging.WARNING, logger="edge.agent"):
        site.agent.run_command(make_payload())
    assert reason in caplog.text
    assert not went_high(site.strike)
    assert site.events() == []
    # The agent carries on.
    site.tap(MEMBER)
    wait_until(lambda: site.strike.state is True)
    (event,) = site.badge_events()
    assert event.access == "granted"


def test_a_command_is_obeyed_once_never_retained_nor_on_an_unsynced_clock(
    make_site: MakeSite, caplog: pytest.LogCaptureFixture
) -> None:
    before_start = command()
    site = make_site()
    payload = command(seconds=0.3)
    with caplog.at_level(logging.WARNING, logger="edge.agent"):
        site.agent.run_command(payload, retained=True)
        assert "it came retained" in caplog.text
        assert not went_high(site.strike)
        site.agent.run_command(payload)  # the same, live: obeyed
        assert site.strike.state is True
        wait_until(lambda: site.strike.state is False)
        obeyed = len(site.strike.states)
        site.agent.run_command(payload)  # replayed within its validity
        assert "was obeyed already: a replay" in caplog.text
        site.agent.run_command(before_start)  # issued before this agent started
        assert "issued before this agent started" in caplog.text
        site.agent.clock.synced = lambda: False
        site.agent.run_command(command())
        assert "clock is not synchronised" in caplog.text
    assert not any(state.state for state in site.strike.states[obeyed:])


def test_a_replay_after_the_wall_clock_was_stepped_back_opens_nothing(
    make_site: MakeSite, caplog: pytest.LogCaptureFixture
) -> None:
    """The agent's gate counts a command's validity on the agent's boot clock: its wall
    clock jumping ahead, then stepped back by NTP, lets no replay through."""
    site = make_site()
    boot_ns, true = site.agent.clock.monotonic_ns(), datetime.now(UTC)
    moved = {"s": 0.0, "wall": true}
    site.agent.clock.monotonic_ns = lambda: boot_ns + int(moved["s"] * 1e9)  # type: ignore[operator]
    site.agent.clock.wall = lambda: moved["wall"]  # type: ignore[assignment,return-value]
    payload = command(seconds=0.3, issued=true)
    site.agent.run_command(payload)
    wait_until(lambda: went_high(site.strike) and site.strike.state is False)
    obeyed = len(site.strike.states)
    moved.update(s=5.0, wall=true + timedelta(seconds=40))  # jumped ahead
    site.agent.run_command(command(seconds=0.3, issued=true + timedelta(seconds=35)))
    wait_until(lambda: len(site.strike.states) > obeyed and site.strike.state is False)
    obeyed = len(site.strike.states)
    moved.update(s=10.0, wall=true + timedelta(seconds=10))  # stepped back to the true time
    with caplog.at_level(logging.WARNING, logger="edge.agent"):
        site.agent.run_command(payload)
    assert "was obeyed already: a replay" in caplog.text
    assert not any(state.state for state in site.strike.states[obeyed:])


# --- a card left on an MFRC522 reader -----------------------------------------------------


class SimulatedChip:
    """The MFRC522 on SPI, as far as the reader uses it (see tests/unit/test_readers.py)."""

    PICC_REQALL = 0x52
    MI_OK = 0
    MI_NOTAGERR = 1

    def __init__(self) -> None:
        self.card: bytes | None = None
        self.requests = 0

    def Read_MFRC522(self, address: int) -> int:
        return 0x92

    def MFRC522_Request(self, mode: int) -> tuple[int, int]:
        self.requests += 1
        return (self.MI_OK, 0x10) if self.card is not None else (self.MI_NOTAGERR, 0)

    def MFRC522_Anticoll(self) -> tuple[int, list[int]]:
        if self.card is None:
            return self.MI_NOTAGERR, []
        return self.MI_OK, [*self.card, 0]


def test_card_left_on_the_reader_is_one_event(make_site: MakeSite) -> None:
    chip = SimulatedChip()

    def use_chip(hardware: Hardware, config: EdgeConfig) -> None:
        hardware.readers = [Mfrc522Reader(config.readers[0], lambda: chip)]

    site = make_site(
        readers=[{"id": "desk", "type": "mfrc522", "poll_s": 0.001, "absent_polls": 3}],
        hardware_hook=use_chip,
    )
    chip.card = bytes.fromhex("04a2b3c4")
    wait_until(lambda: site.strike.state is True)
    target = chip.requests + 50
    wait_until(lambda: chip.requests >= target)
    (event,) = site.badge_events()
    assert (event.badge, event.reader, event.direction, event.access) == (
        MEMBER,
        "desk",
        "toggle",
        "granted",
    )
    assert len(site.events()) == 1
    # Taken away, then presented again: a second tap.
    chip.card = None
    target = chip.requests + 5
    wait_until(lambda: chip.requests >= target)
    chip.card = bytes.fromhex("04a2b3c4")
    assert len(site.badge_events(2)) == 2


# --- restarts and the bound ---------------------------------------------------------------


def test_after_a_restart_the_list_on_disk_decides_and_seq_goes_on(
    make_site: MakeSite, tmp_path: Path
) -> None:
    first = make_site(state_dir=tmp_path / "state")
    first.tap(MEMBER)
    first.badge_events()
    first.stop()
    second = make_site(state_dir=tmp_path / "state", list_payload=None)
    assert second.agent.access.version == 1
    second.tap(MEMBER)
    second.tap(EXPIRED)
    events = second.badge_events(3)
    assert [(e.seq, e.badge, e.access) for e in events] == [
        (1, MEMBER, "granted"),
        (2, MEMBER, "granted"),
        (3, EXPIRED, "denied"),
    ]


def test_outbox_overflow_raises_an_alarm(make_site: MakeSite) -> None:
    site = make_site(outbox={"max_events": 100})  # the smallest bound the config allows
    for _ in range(101):
        site.tap(STRANGER)
    # The 101st tap (seq 101) pushed the two oldest out; the alarm saying so is seq 102.
    wait_until(lambda: site.agent.outbox.last_seq() == 102)
    events = site.events()
    assert [e.seq for e in events] == list(range(3, 103))
    assert all(isinstance(e, wire.BadgeEvent) for e in events[:-1])
    alarm = events[-1]
    assert isinstance(alarm, wire.AlarmEvent)
    assert (alarm.kind, alarm.dropped, alarm.door) == ("outbox_overflow", 2, None)


def test_overflow_alarm_that_overflows_an_outbox_of_one_does_not_recurse(
    make_site: MakeSite,
) -> None:
    """Below the config's floor (an Outbox on its own allows any bound), each alarm pushes out
    the event before it: the agent must not answer that with another alarm, and so on."""
    site = make_site()
    site.agent.outbox.max_events = 1
    (reader,) = site.agent.readers
    site.agent.badge_presented(reader, STRANGER)  # seq 1
    site.agent.badge_presented(reader, STRANGER)  # seq 2 drops seq 1; the alarm (3) drops 2
    (alarm,) = site.events()
    assert isinstance(alarm, wire.AlarmEvent)
    assert (alarm.kind, alarm.dropped, alarm.seq) == ("outbox_overflow", 1, 3)
    assert site.agent.outbox.dropped == 2
    site.tap(STRANGER)  # the agent carries on
    wait_until(lambda: site.agent.outbox.last_seq() == 5)
    assert reader.state == "ok"


def test_access_list_that_cannot_be_saved_leaves_the_old_one_in_force(
    make_site: MakeSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = make_site()

    def disk_full(_fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    site.agent.apply_access_list(access_list(version=2, badges=[]))  # logged, not raised
    monkeypatch.undo()
    assert site.agent.access.version == 1
    site.tap(MEMBER)
    wait_until(lambda: site.strike.state is True)
    (event,) = site.badge_events()
    assert event.access == "granted"


def test_a_stale_relock_timer_does_not_cut_a_new_unlock_short(make_site: MakeSite) -> None:
    """`Timer.cancel()` cannot stop a timer already running: one that was waiting for the
    door's lock while a new unlock held it then fires. It must leave the new window alone."""
    site = make_site()  # unlock_s 30: no timer fires by itself during the test
    door = site.agent.doors["main"]
    door.unlock()
    stale = door._relock
    assert stale is not None
    door.unlock()  # a second tap: the first timer is cancelled, too late
    stale.function(*stale.args, **stale.kwargs)
    assert site.strike.state is True
    assert door.unlocked
    current = door._relock
    assert current is not None
    current.function(*current.args, **current.kwargs)
    assert site.strike.state is False


def test_decision_log_shows_a_masked_uid_the_full_one_only_at_debug(
    make_site: MakeSite, caplog: pytest.LogCaptureFixture
) -> None:
    site = make_site()
    caplog.set_level(logging.INFO, logger="edge.agent")
    site.tap(MEMBER)
    site.badge_events(1)
    messages = [r.getMessage() for r in caplog.records]
    assert f"badge …{MEMBER[-4:]} on reader entrance: granted" in messages
    assert not [m for m in messages if MEMBER in m]
    caplog.set_level(logging.DEBUG, logger="edge.agent")
    site.tap(STRANGER)
    site.badge_events(2)
    full = [r for r in caplog.records if STRANGER in r.getMessage()]
    assert [r.levelno for r in full] == [logging.DEBUG]
    assert f"badge …{STRANGER[-4:]} on reader entrance: denied (unknown)" in [
        r.getMessage() for r in caplog.records
    ]


# --- with the broker ----------------------------------------------------------------------


class Listener:
    """A plain MQTT client that records what arrives on its subscriptions."""

    def __init__(self, port: int, *topics: str) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self.subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-listener")
        self.client.on_message = self._message
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_connect = lambda client, *_: client.subscribe([(t, 1) for t in topics])
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        wait_until(self.subscribed.is_set)

    def _message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((message.topic, bytes(message.payload)))

    def on(self, topic: str) -> list[bytes]:
        with self._lock:
            return [payload for t, payload in self.messages if t == topic]

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(timeout=5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.mark.broker
def test_with_the_broker_events_leave_and_the_hub_can_steer(
    make_site: MakeSite, broker: Mosquitto
) -> None:
    events_topic = wire.events_topic(SITE, DEVICE)
    status_topic = wire.status_topic(SITE, DEVICE)
    listener = Listener(broker.port, events_topic, status_topic)
    try:
        # The hub's retained list reaches the agent when it connects.
        listener.publish(wire.access_topic(SITE), access_list(version=4), retain=True)
        site = make_site(mqtt_port=broker.port, list_payload=None)
        wait_until(site.agent.uplink.connected.is_set)
        wait_until(lambda: site.agent.access.version == 4)
        wait_until(lambda: len(listener.on(status_topic)) >= 1)
        statuses = [wire.parse_status(p) for p in listener.on(status_topic)]
        assert statuses[0].state == "online"
        assert statuses[0].doors == {"main": "closed"}

        site.tap(MEMBER)
        wait_until(lambda: site.strike.state is True)
        wait_until(lambda: len(listener.on(events_topic)) >= 1)
        (sent,) = [wire.parse_event(p, topic=events_topic) for p in listener.on(events_topic)]
        assert isinstance(sent, wire.BadgeEvent)
        assert (sent.badge, sent.access, sent.seq) == (MEMBER, "granted", 1)
        # The broker acknowledged it; it stays until the hub says it has committed it.
        assert holds_for(lambda: site.agent.outbox.depth() == 1, 0.5)
        ack = wire.Ack(v=1, site=SITE, device=DEVICE, seq=1, ts=datetime.now(UTC))
        listener.publish(wire.ack_topic(SITE, DEVICE), wire.encode(ack), retain=True)
        wait_until(lambda: site.agent.outbox.depth() == 0)  # acknowledged by the hub: gone

        # A command from the hub, through the broker.
        site.agent.doors["main"].lock()
        listener.publish(wire.command_topic(SITE, DEVICE), command())
        wait_until(lambda: site.strike.state is True)
        site.stop()
        wait_until(lambda: wire.parse_status(listener.on(status_topic)[-1]).state == "offline")
    finally:
        listener.close()


@pytest.mark.broker
def test_a_failing_command_or_list_does_not_end_the_link(
    make_site: MakeSite, broker: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    """paho re-raises what its callbacks raise, and its network thread then ends for good."""
    listener = Listener(broker.port, wire.status_topic(SITE, DEVICE))
    try:
        site = make_site(mqtt_port=broker.port)
        # The agent publishes its status after subscribing: once the status is here, so is
        # its subscription (a command published before it would be lost, not retained).
        wait_until(lambda: listener.on(wire.status_topic(SITE, DEVICE)))
        door = site.agent.doors["main"]
        unlock, calls = door.unlock, []

        def unlock_failing_once(seconds: float | None = None) -> None:
            calls.append(seconds)
            if len(calls) == 1:
                raise RecursionError("maximum recursion depth exceeded")
            unlock(seconds)

        def save_with_a_bug(*_: object) -> None:
            raise RuntimeError("a bug in saving")

        monkeypatch.setattr(door, "unlock", unlock_failing_once)
        monkeypatch.setattr(site.agent.access, "_save", save_with_a_bug)
        listener.publish(wire.command_topic(SITE, DEVICE), command())
        wait_until(lambda: len(calls) == 1)
        listener.publish(wire.access_topic(SITE), access_list(version=2, badges=[]))
        listener.publish(wire.command_topic(SITE, DEVICE), command())
        wait_until(lambda: site.strike.state is True)  # the second command got through
        assert site.agent.access.version == 1
        monkeypatch.undo()
        listener.publish(wire.access_topic(SITE), access_list(version=3, badges=[]))
        wait_until(lambda: site.agent.access.version == 3)
    finally:
        listener.close()


@pytest.mark.broker
def test_a_failing_outbox_does_not_end_sending(
    make_site: MakeSite, broker: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(edge.uplink, "DRAIN_RETRY_S", 0.01)
    # No hub here: the broker's acknowledgement is what empties the outbox.
    settings = {"host": "127.0.0.1", "port": broker.port, "keepalive_s": 5, "end_to_end": False}
    site = make_site(mqtt=settings)
    wait_until(site.agent.uplink.connected.is_set)
    outbox = site.agent.outbox
    pending = outbox.pending
    failures: list[int] = []

    def pending_failing_once(after_seq: int, limit: int) -> list[tuple[int, bytes]]:
        if not failures:
            failures.append(after_seq)
            raise sqlite3.OperationalError("disk I/O error")
        return pending(after_seq, limit)

    monkeypatch.setattr(outbox, "pending", pending_failing_once)
    wait_until(lambda: failures)
    site.tap(MEMBER)
    # Stored, then sent and acknowledged after all:
    wait_until(lambda: outbox.last_seq() == 1 and outbox.depth() == 0)


def test_an_event_the_broker_refuses_stays_in_the_outbox_until_it_is_accepted(
    make_site: MakeSite,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A broker ACL that forgot this device: with MQTT 5 the PUBACK says "not authorized"
    and the event is kept (3.1.1 would have acknowledged it and the outbox dropped it)."""
    monkeypatch.setattr(edge.uplink, "REFUSED_RETRY_S", 0.2)
    passwd, acl = tmp_path / "passwd", tmp_path / "acl"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(passwd), DEVICE, "door-secret"], check=True)
    acl.write_text(f"user {DEVICE}\ntopic read {wire.access_topic(SITE)}\n")  # no write
    server = Mosquitto(
        tmp_path / "acl-broker",
        extra=f"allow_anonymous false\npassword_file {passwd}\nacl_file {acl}\n",
    )
    server.start()
    try:
        site = make_site(
            mqtt={
                "host": "127.0.0.1",
                "port": server.port,
                "keepalive_s": 5,
                "username": DEVICE,
                "password": "door-secret",
                "end_to_end": False,  # no hub here: the broker's acknowledgement is enough
            }
        )
        wait_until(site.agent.uplink.connected.is_set)
        with caplog.at_level(logging.ERROR, logger="edge.uplink"):
            site.tap(MEMBER)
            wait_until(lambda: "the broker refused event seq 1" in caplog.text)
        assert site.agent.outbox.depth() == 1
        acl.write_text(f"user {DEVICE}\ntopic write {wire.events_topic(SITE, DEVICE)}\n")
        assert server.process is not None
        server.process.send_signal(signal.SIGHUP)  # Mosquitto reads its ACL again
        wait_until(lambda: site.agent.outbox.depth() == 0, timeout=20)
    finally:
        server.stop()
