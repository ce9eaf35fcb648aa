"""An edge agent whose Pi booted with no network, its clock at 1970, against a real Mosquitto:
its events wait for NTP and then arrive with their true time (edge/clock_hold.py).

The agent is built as `telecentre-edge` builds it, on gpiozero MockFactory pins, badges
typed on its stdin reader; only its clock is given: a wall clock at 1970 plus the time since
"boot" until the test lets NTP synchronise it, the machine's real boot-time clock, and a boot
id the test chooses (a new one is a reboot).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import paho.mqtt.client as mqtt
import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory
from paho.mqtt.enums import CallbackAPIVersion

from edge.agent import Agent
from edge.clock import Clock, since_boot_ns
from edge.config import EdgeConfig
from edge.hardware import build_hardware
from telecentre import wire
from tests.keys import edge_access_config, signed
from tests.servers import Mosquitto
from tests.waiting import holds_for, wait_until

pytestmark = pytest.mark.broker

SITE, DEVICE = "murat", "murat-door"
MEMBER = "04A2B3C4"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EVENTS, STATUS = wire.events_topic(SITE, DEVICE), wire.status_topic(SITE, DEVICE)
ACCESS_LIST = signed(
    {
        "v": 1,
        "site": SITE,
        "version": 1,
        "issued": "2026-11-22T08:00:00+01:00",
        "opening": {},
        "badges": [{"badge": MEMBER, "until": None, "hours": "always"}],
    }
)


class PiClock:
    """A Pi's clocks: its wall clock starts at 1970 at boot, until NTP sets it right."""

    def __init__(self) -> None:
        self.boot = str(uuid.uuid4())
        self.booted = datetime.now(UTC)
        self.is_synced = False

    def wall(self) -> datetime:
        now = datetime.now(UTC)
        return now if self.is_synced else EPOCH + (now - self.booted)

    def reboot(self) -> None:
        self.boot, self.booted, self.is_synced = str(uuid.uuid4()), datetime.now(UTC), False

    def clock(self) -> Clock:
        return Clock(self.wall, since_boot_ns, lambda: self.is_synced, self.boot)


class Listener:
    """What the hub would receive: each message with the moment it arrived."""

    def __init__(self, port: int) -> None:
        self.received: list[tuple[float, str, bytes]] = []
        self._lock = threading.Lock()
        subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="clock-listener")
        self.client.on_message = self._message
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.on_connect = lambda c, *_: c.subscribe([(EVENTS, 1), (STATUS, 1)])
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        wait_until(subscribed.is_set)

    def _message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.received.append((time.monotonic(), message.topic, bytes(message.payload)))

    def events(self) -> list[tuple[float, wire.BadgeEvent | wire.DoorEvent]]:
        with self._lock:
            received = [(at, p) for at, topic, p in self.received if topic == EVENTS]
        found = []
        for at, payload in received:
            event = wire.parse_event(payload, topic=EVENTS)
            assert isinstance(event, wire.BadgeEvent | wire.DoorEvent)
            found.append((at, event))
        return found

    def statuses(self) -> list[wire.Status]:
        with self._lock:
            return [wire.parse_status(p) for _, topic, p in self.received if topic == STATUS]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Site:
    """A started agent with its stdin reader's pipe."""

    def __init__(self, agent: Agent, keyboard: IO[str]) -> None:
        self.agent, self.keyboard = agent, keyboard

    def tap(self, badge: str = MEMBER) -> tuple[datetime, datetime]:
        """Tap, wait until the event is stored, and say when it truly happened (between)."""
        stored = self.agent.outbox.last_seq()
        before = datetime.now(UTC)
        self.keyboard.write(f"{badge}\n")
        self.keyboard.flush()
        wait_until(lambda: self.agent.outbox.last_seq() > stored)
        return before, datetime.now(UTC)

    def stop(self) -> None:
        self.agent.stop()
        self.keyboard.close()


MakeSite = Callable[..., Site]


@pytest.fixture
def pins() -> Iterator[MockFactory]:
    previous = Device.pin_factory
    factory = MockFactory()
    Device.pin_factory = factory
    yield factory
    factory.reset()
    Device.pin_factory = previous


@pytest.fixture
def make_site(tmp_path: Path, pins: MockFactory) -> Iterator[MakeSite]:
    """`make_site(pi_clock, port, **config)`: a started agent with the clocks given."""
    sites: list[Site] = []

    def make(pi_clock: Clock, port: int, **config: Any) -> Site:
        for site in sites:  # one agent at a time on these pins and this state
            site.stop()
        sites.clear()
        edge_config = EdgeConfig.model_validate(
            {
                "site": SITE,
                "device": DEVICE,
                "pins": "mock",
                "state_dir": str(tmp_path / "state"),
                # No hub here to acknowledge: events leave on the broker's acknowledgement.
                "mqtt": {"host": "127.0.0.1", "port": port, "keepalive_s": 5, "end_to_end": False},
                "status_interval_s": 0.5,
                "readers": [{"id": "entrance", "type": "stdin", "direction": "toggle"}],
                "doors": [{"id": "main", "strike_pin": 27, "unlock_s": 1}],
                "access": edge_access_config(),
            }
            | config
        )
        read_fd, write_fd = os.pipe()
        stdin = os.fdopen(read_fd, "r", encoding="utf-8")
        keyboard = os.fdopen(write_fd, "w", encoding="utf-8")
        pins.reset()
        agent = Agent(edge_config, build_hardware(edge_config, stdin=stdin), clock=pi_clock)
        # The list this Pi took before it rebooted, its clock right then (a fresh Pi would
        # hold it until NTP: tests/integration/test_edge_broker.py).
        if agent.access.version is None:
            assert agent.access.apply(ACCESS_LIST, SITE) == "applied"
        agent.start()
        site = Site(agent, keyboard)
        sites.append(site)
        return site

    yield make
    for site in sites:
        site.stop()


@pytest.fixture
def silent_hub() -> Iterator[int]:
    """A port where TCP connects but no broker answers: the link is down (and the agent
    stops at once, with no reconnect back-off to wait for)."""
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen(64)
        yield int(listening.getsockname()[1])


@pytest.fixture
def listener(broker: Mosquitto) -> Iterator[Listener]:
    watching = Listener(broker.port)
    yield watching
    watching.close()


def within_a_second(ts: datetime, truly: tuple[datetime, datetime]) -> bool:
    before, after = truly
    return before - timedelta(seconds=1) <= ts <= after + timedelta(seconds=1)


def test_an_agent_booted_at_1970_sends_its_events_with_their_true_time_once_synchronised(
    make_site: MakeSite,
    broker: Mosquitto,
    listener: Listener,
    caplog: pytest.LogCaptureFixture,
) -> None:
    pi = PiClock()
    caplog.set_level(logging.WARNING, logger="edge.clock_hold")
    site = make_site(pi.clock(), broker.port)
    wait_until(lambda: listener.statuses(), message="the agent's status")
    truths = []
    for _ in range(3):
        truths.append(site.tap())
        time.sleep(0.3)  # taps some way apart, so that a wrong rebase would show
    assert site.agent.access.decide(MEMBER, pi.wall()).granted  # decided at 1970 too
    wait_until(lambda: "events are held back" in caplog.text, message="the agent holding")
    wait_until(lambda: any(s.held == 3 and s.clock_synced is False for s in listener.statuses()))
    assert holds_for(lambda: listener.events() == [], 1.0), "nothing goes before NTP"

    pi.is_synced = True  # NTP steps the wall clock
    synced_at = time.monotonic()
    wait_until(lambda: len(listener.events()) == 3, message="the three taps")
    received = listener.events()
    assert all(at >= synced_at for at, _ in received)
    events = [event for _, event in received]
    assert [e.seq for e in events] == [1, 2, 3]
    assert [(e.clock_synced, e.rebased) for e in events] == [(True, True)] * 3
    for event, truly in zip(events, truths, strict=True):
        assert within_a_second(event.ts, truly), (event.ts, truly)
    assert events[0].ts < events[1].ts < events[2].ts
    wait_until(lambda: site.agent.outbox.depth() == 0)

    # From now on, events go at once, stamped by the synchronised clock.
    truly = site.tap()
    wait_until(lambda: len(listener.events()) == 4)
    fourth = listener.events()[3][1]
    assert (fourth.clock_synced, fourth.rebased) == (True, False)
    assert within_a_second(fourth.ts, truly)


def test_after_an_agent_restart_the_same_boot_still_rebases_what_it_stored(
    make_site: MakeSite, broker: Mosquitto, listener: Listener, silent_hub: int
) -> None:
    pi = PiClock()
    site = make_site(pi.clock(), silent_hub)  # the link is down
    truly = site.tap()
    site = make_site(pi.clock(), broker.port)  # the agent restarted (or was killed), not the Pi
    wait_until(lambda: listener.statuses())
    assert holds_for(lambda: listener.events() == [], 1.0), "nothing goes before NTP"
    pi.is_synced = True
    wait_until(lambda: len(listener.events()) == 1)
    (event,) = [event for _, event in listener.events()]
    assert (event.seq, event.clock_synced, event.rebased) == (1, True, True)
    assert within_a_second(event.ts, truly)


def test_after_a_reboot_the_earlier_boots_events_go_as_they_are_and_the_new_ones_wait(
    make_site: MakeSite, broker: Mosquitto, listener: Listener, silent_hub: int
) -> None:
    pi = PiClock()
    site = make_site(pi.clock(), silent_hub)
    site.tap()
    site.tap()
    pi.reboot()  # before NTP came: those stamps count from a boot that is gone
    site = make_site(pi.clock(), broker.port)
    wait_until(lambda: len(listener.events()) == 2, message="the earlier boot's events")
    old = [event for _, event in listener.events()]
    assert [(e.seq, e.ts.year, e.clock_synced, e.rebased) for e in old] == [
        (1, 1970, False, False),
        (2, 1970, False, False),
    ]
    truly = site.tap()
    assert holds_for(lambda: len(listener.events()) == 2, 1.0), "this boot's tap waits"
    pi.is_synced = True
    wait_until(lambda: len(listener.events()) == 3)
    new = listener.events()[2][1]
    assert (new.seq, new.clock_synced, new.rebased) == (3, True, True)
    assert within_a_second(new.ts, truly)


def test_with_ntp_out_of_reach_events_go_unsynchronised_after_the_hold(
    make_site: MakeSite,
    broker: Mosquitto,
    listener: Listener,
    caplog: pytest.LogCaptureFixture,
) -> None:
    pi = PiClock()
    caplog.set_level(logging.WARNING, logger="edge.clock_hold")
    site = make_site(pi.clock(), broker.port, clock={"hold_unsynced_s": 1})
    wait_until(lambda: listener.statuses())
    site.tap()
    wait_until(lambda: len(listener.events()) == 1, message="the tap, after the hold")
    (event,) = [event for _, event in listener.events()]
    assert (event.ts.year, event.clock_synced, event.rebased) == (1970, False, False)
    assert "clock still not synchronised after" in caplog.text
    site.tap()  # NTP still away: the next ones go at once, as they are
    wait_until(lambda: len(listener.events()) == 2)
    assert listener.events()[1][1].clock_synced is False
    assert caplog.text.count("clock still not synchronised") == 1


def test_a_tap_is_decided_and_the_door_opened_while_a_rebase_holds_the_outbox(
    make_site: MakeSite, broker: Mosquitto, listener: Listener, pins: MockFactory
) -> None:
    pi = PiClock()
    site = make_site(pi.clock(), broker.port)
    wait_until(lambda: listener.statuses())
    site.tap()
    outbox, rebase = site.agent.outbox, site.agent.outbox.rebase
    rebasing, finish = threading.Event(), threading.Event()

    def slow_rebase(sync: Any) -> int:
        with outbox._lock:  # as a rebase of a large backlog holds it
            rebasing.set()
            finish.wait(10)
        return rebase(sync)

    outbox.rebase = slow_rebase  # type: ignore[method-assign]
    site.agent.doors["main"].lock()
    pi.is_synced = True
    wait_until(rebasing.is_set)
    site.keyboard.write(f"{MEMBER}\n")
    site.keyboard.flush()
    wait_until(lambda: pins.pin(27).state is True, message="the strike, during the rebase")
    assert outbox.depth() == 1, "the tap is stored after the rebase, not before the strike"
    finish.set()
    wait_until(lambda: len(listener.events()) == 2)
    assert [e.rebased for _, e in listener.events()] == [True, False]
