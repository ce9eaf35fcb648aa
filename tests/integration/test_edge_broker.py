"""The edge agent as it runs on a Pi (a `telecentre-edge` process, `stdin` reader, mock pins)
against a real Mosquitto, checked by an independent subscriber (`mosquitto_sub`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge.clock import ntp_synchronised
from telecentre import wire
from tests.keys import edge_access_config, signed
from tests.servers import Mosquitto

EDGE = str(Path(sys.executable).parent / "telecentre-edge")
SITE, DEVICE = "murat", "murat-door"
MEMBER_BADGE = "04A2B3C4D5E6F7"
PROBE = wire.events_topic("probe", "probe")


def wait_until(predicate: Callable[[], bool], timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.05)


class Watcher:
    """`mosquitto_sub` with a persistent session, so that it is owed what it missed while
    it (or the broker) was away; restarted with the same id after a broker restart."""

    def __init__(self, broker: Mosquitto, out: Path, topic: str = wire.ALL_EVENTS) -> None:
        self.broker, self.out, self.topic = broker, out, topic
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "mosquitto_sub",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.broker.port),
                "-q",
                "1",
                "-c",
                "-i",
                f"watcher-{self.out.stem}",
                "-v",
                "-t",
                self.topic,
                "-t",
                PROBE,
            ],
            stdout=self.out.open("ab"),
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: self._probe(PROBE), what="the watcher's subscription")

    def _probe(self, topic: str) -> bool:
        subprocess.run(
            [
                "mosquitto_pub",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.broker.port),
                "-q",
                "1",
                "-t",
                topic,
                "-m",
                "{}",
            ],
            check=True,
        )
        time.sleep(0.1)
        return any(line.startswith(topic) for line in self.lines())

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def lines(self) -> list[str]:
        if not self.out.exists():
            return []
        return self.out.read_text().splitlines()

    def events(self) -> list[dict[str, Any]]:
        """Events of our site, each parsed and validated against its topic."""
        found = []
        for line in self.lines():
            topic, _, payload = line.partition(" ")
            if topic == wire.events_topic(SITE, DEVICE):
                found.append(wire.parse_event(payload, topic=topic).model_dump(mode="json"))
        return found


class EdgeProcess:
    """`telecentre-edge` in a subprocess, badge UIDs written to its stdin reader."""

    def __init__(self, tmp: Path, broker: Mosquitto) -> None:
        self.config = tmp / "edge.yaml"
        self.log = tmp / "edge.log"
        self.state = tmp / "edge-state"
        self.config.write_text(
            yaml.safe_dump(
                {
                    "site": SITE,
                    "device": DEVICE,
                    "mqtt": {"host": "127.0.0.1", "port": broker.port, "keepalive_s": 5},
                    "state_dir": str(self.state),
                    "pins": "mock",
                    "readers": [{"id": "entrance", "type": "stdin", "direction": "toggle"}],
                    "doors": [{"id": "main", "strike_pin": 27, "unlock_s": 1}],
                    "access": edge_access_config(),
                    # This machine's kernel may not report NTP (a container): its clock is right.
                    "clock": {"assume_synced": True},
                }
            )
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        starts = self.log.read_text().count("starting") if self.log.exists() else 0
        self.process = subprocess.Popen(
            [EDGE, "--config", str(self.config)],
            stdin=subprocess.PIPE,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        wait_until(
            lambda: self.log.read_text().count("starting") > starts, what="the agent to start"
        )

    def tap(self, uid: str) -> None:
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(f"{uid}\n".encode())
        self.process.stdin.flush()

    def decisions(self) -> int:
        return self.log.read_text().count(" on reader entrance: ")

    def stored(self) -> int:
        return self.log.read_text().count("event badge seq")

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)


@pytest.fixture
def watcher(broker: Mosquitto, tmp_path: Path) -> Iterator[Watcher]:
    sub = Watcher(broker, tmp_path / "watched.txt")
    sub.start()
    yield sub
    sub.stop()


@pytest.fixture
def edge(broker: Mosquitto, tmp_path: Path) -> Iterator[EdgeProcess]:
    agent = EdgeProcess(tmp_path, broker)
    yield agent
    agent.stop()


def signed_list(version: int, badges: list[str]) -> str:
    return signed(
        {
            "v": 1,
            "site": SITE,
            "version": version,
            "issued": "2026-11-22T08:00:00+01:00",
            "opening": {},
            "badges": [{"badge": b, "until": None, "hours": "always"} for b in badges],
        }
    ).decode()


def publish_access_list(broker: Mosquitto, version: int, badges: list[str] | str) -> None:
    payload = badges if isinstance(badges, str) else signed_list(version, badges)
    subprocess.run(
        [
            "mosquitto_pub",
            "-h",
            "127.0.0.1",
            "-p",
            str(broker.port),
            "-q",
            "1",
            "-r",
            "-t",
            wire.access_topic(SITE),
            "-m",
            payload,
        ],
        check=True,
    )


def badge_accesses(watcher: Watcher) -> list[tuple[str, str]]:
    return [(e["badge"], e["access"]) for e in watcher.events() if e["type"] == "badge"]


def test_events_arrive_on_the_site_topic_with_the_protocol_payload(
    broker: Mosquitto, watcher: Watcher, edge: EdgeProcess
) -> None:
    publish_access_list(broker, 1, [MEMBER_BADGE])
    edge.start()
    wait_until(lambda: "access list version 1 applied" in edge.log.read_text())
    edge.tap(MEMBER_BADGE.lower())
    edge.tap("DEADBEEF")
    wait_until(lambda: len(watcher.events()) == 2, what="two events")
    granted, denied = watcher.events()
    assert (granted["badge"], granted["access"], granted["device"]) == (
        MEMBER_BADGE,
        "granted",
        DEVICE,
    )
    assert (denied["badge"], denied["access"], denied["reason"]) == (
        "DEADBEEF",
        "denied",
        "unknown",
    )
    assert [granted["seq"], denied["seq"]] == [1, 2]
    assert granted["reader"] == "entrance" and granted["direction"] == "toggle"


def test_with_the_broker_down_taps_are_decided_locally_and_all_arrive_once_in_order(
    broker: Mosquitto, watcher: Watcher, edge: EdgeProcess
) -> None:
    publish_access_list(broker, 1, [MEMBER_BADGE])
    edge.start()
    wait_until(lambda: "access list version 1 applied" in edge.log.read_text())
    watcher.stop()
    broker.stop()
    taps = [MEMBER_BADGE if i % 3 else "0BADC0DE" for i in range(30)]
    for uid in taps:
        edge.tap(uid)
    wait_until(lambda: edge.stored() == 30, what="30 taps decided and stored offline")
    log = edge.log.read_text()
    assert log.count(": granted") == 20 and log.count(": denied (unknown)") == 10
    broker.start()
    watcher.start()
    wait_until(lambda: len({e["id"] for e in watcher.events()}) == 30, what="30 events")
    events = watcher.events()
    first_seen = list(dict.fromkeys(e["seq"] for e in events))
    assert first_seen == list(range(1, 31))
    assert [e["badge"] for e in sorted(events, key=lambda e: e["seq"])][:30:3] == ["0BADC0DE"] * 10


def test_a_backlog_survives_sigkill_of_the_agent(
    broker: Mosquitto, watcher: Watcher, edge: EdgeProcess
) -> None:
    publish_access_list(broker, 1, [MEMBER_BADGE])
    edge.start()
    wait_until(lambda: "access list version 1 applied" in edge.log.read_text())
    watcher.stop()
    broker.stop()
    for _ in range(25):
        edge.tap(MEMBER_BADGE)
    wait_until(lambda: edge.stored() == 25, what="25 events in the outbox")
    edge.kill()
    broker.start()
    watcher.start()
    edge.start()
    wait_until(lambda: len({e["id"] for e in watcher.events()}) == 25, what="the backlog")
    edge.tap(MEMBER_BADGE)
    wait_until(lambda: len({e["id"] for e in watcher.events()}) == 26, what="a new tap")
    seqs = list(dict.fromkeys(e["seq"] for e in watcher.events()))
    assert seqs == list(range(1, 27)), "the seq counter goes on after the restart"


def test_only_a_newer_well_formed_access_list_is_applied(
    broker: Mosquitto, watcher: Watcher, edge: EdgeProcess
) -> None:
    publish_access_list(broker, 5, ["0A1B2C3D"])
    edge.start()
    wait_until(lambda: "access list version 5 applied" in edge.log.read_text())
    publish_access_list(broker, 4, ["11223344"])  # older: ignored
    publish_access_list(broker, 9, '{"v": 1, "site": "murat", "version": 9}')  # no `issued`
    publish_access_list(broker, 9, "not json")
    wait_until(lambda: edge.log.read_text().count("access list rejected") == 2)
    edge.tap("0A1B2C3D")
    edge.tap("11223344")
    wait_until(lambda: len(watcher.events()) == 2)
    assert badge_accesses(watcher) == [("0A1B2C3D", "granted"), ("11223344", "denied")]
    publish_access_list(broker, 6, ["11223344"])
    wait_until(lambda: "access list version 6 applied" in edge.log.read_text())
    edge.tap("0A1B2C3D")
    edge.tap("11223344")
    wait_until(lambda: len(watcher.events()) == 4)
    assert badge_accesses(watcher)[2:] == [("0A1B2C3D", "denied"), ("11223344", "granted")]
    denied = [e for e in watcher.events() if e["access"] == "denied"]
    assert denied[-1]["reason"] == "revoked"


def test_the_list_in_force_survives_a_restart_with_no_broker(
    broker: Mosquitto, watcher: Watcher, edge: EdgeProcess
) -> None:
    publish_access_list(broker, 3, [MEMBER_BADGE])
    edge.start()
    wait_until(lambda: "access list version 3 applied" in edge.log.read_text())
    edge.stop()
    broker.stop()
    edge.start()
    assert "access list version 3 loaded from disk" in edge.log.read_text()
    edge.tap(MEMBER_BADGE)
    wait_until(lambda: edge.decisions() == 1)
    log = edge.log.read_text()
    assert f"badge …{MEMBER_BADGE[-4:]} on reader entrance: granted" in log
    assert MEMBER_BADGE not in log  # at INFO, badge UIDs are masked (CNIL: journald keeps logs)


def test_status_is_retained_with_an_offline_last_will(
    broker: Mosquitto, tmp_path: Path, edge: EdgeProcess
) -> None:
    status = Watcher(broker, tmp_path / "status.txt", topic=wire.status_topic(SITE, DEVICE))
    edge.start()
    status.start()
    wait_until(lambda: any('"online"' in line for line in status.lines()))
    edge.kill()  # no goodbye: the broker publishes the last will after the keepalive
    wait_until(lambda: any('"offline"' in line for line in status.lines()), timeout=30)
    status.stop()
    last = status.lines()[-1].partition(" ")[2]
    parsed = wire.parse_status(last)
    assert (parsed.device, parsed.site, parsed.state) == (DEVICE, SITE, "offline")


def reset(edge: EdgeProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EDGE, "--config", str(edge.config), "reset-access-list", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_reset_procedure_brings_back_a_door_that_ignores_the_hubs_lists(
    broker: Mosquitto, watcher: Watcher, edge: EdgeProcess
) -> None:
    """The hub's clock ran 12 hours ahead, and the door took its list (within a day: allowed);
    once the clock is fixed, the hub's lists are below it and the door ignores them, until
    `telecentre-edge reset-access-list` (docs/operations.md) makes it take the next one; a
    list issued before the reset (one that still grants a badge revoked since) never."""
    now_ms = int(time.time() * 1000)
    ahead = now_ms + 12 * 3600 * 1000
    publish_access_list(broker, now_ms - 1000, [MEMBER_BADGE, "11223344"])
    edge.start()
    wait_until(lambda: f"access list version {now_ms - 1000} applied" in edge.log.read_text())
    captured = signed_list(now_ms - 1000, [MEMBER_BADGE, "11223344"])  # kept by an attacker
    publish_access_list(broker, ahead, [MEMBER_BADGE])  # 11223344 revoked
    wait_until(lambda: f"access list version {ahead} applied" in edge.log.read_text())
    publish_access_list(broker, now_ms, [MEMBER_BADGE])  # the hub, its clock fixed
    wait_until(lambda: f"not newer than version {ahead} in force" in edge.log.read_text())
    edge.stop()

    done = reset(edge)
    assert done.returncode == 0, done.stderr
    assert f"access list version {ahead} stays in force until then" in done.stdout
    floor = json.loads((edge.state / "access-floor.json").read_text())["floor"]
    assert floor >= now_ms
    edge.start()
    # The retained list, issued before the reset, and the captured older one: refused.
    publish_access_list(broker, 0, captured)
    wait_until(lambda: edge.log.read_text().count(f"(floor {floor}): ignored") >= 2)
    fresh = int(time.time() * 1000) + 1
    publish_access_list(broker, fresh, ["55667788"])  # the hub's next list
    wait_until(lambda: f"access list version {fresh} applied" in edge.log.read_text())
    edge.tap("11223344")
    edge.tap("55667788")
    wait_until(lambda: len(watcher.events()) == 2)
    assert badge_accesses(watcher) == [("11223344", "denied"), ("55667788", "granted")]
    # The door keeps the floor of the list it took: the captured one, sent again, stays out.
    publish_access_list(broker, 0, captured)
    wait_until(lambda: f"(floor {fresh}): ignored" in edge.log.read_text())
    for name in ("access.json", "access-floor.json", "outbox.db"):
        assert (edge.state / name).stat().st_mode & 0o077 == 0, name


def test_a_reset_with_the_hubs_version_takes_the_retained_list_at_once(
    broker: Mosquitto, edge: EdgeProcess
) -> None:
    now_ms = int(time.time() * 1000)
    publish_access_list(broker, now_ms + 3600_000, [MEMBER_BADGE])
    edge.start()
    wait_until(lambda: "applied" in edge.log.read_text())
    edge.stop()
    publish_access_list(broker, now_ms, [MEMBER_BADGE])  # latest_access_version at the hub
    done = reset(edge, "--version", str(now_ms))
    assert done.returncode == 0, done.stderr
    edge.start()
    wait_until(lambda: f"access list version {now_ms} applied" in edge.log.read_text())


def test_a_fresh_pi_with_an_unsynced_clock_waits_for_it_or_for_the_operator(
    broker: Mosquitto, edge: EdgeProcess
) -> None:
    config = yaml.safe_load(edge.config.read_text())
    edge.config.write_text(yaml.safe_dump(config | {"clock": {"assume_synced": False}}))
    if ntp_synchronised():
        pytest.skip("this machine's kernel reports the clock synchronised")
    now_ms = int(time.time() * 1000)
    publish_access_list(broker, now_ms, [MEMBER_BADGE])
    edge.start()
    wait_until(lambda: "access list held" in edge.log.read_text())
    assert not (edge.state / "access.json").exists()
    edge.stop()
    refused = reset(edge)  # "issued after now" means nothing on a clock that is not right
    assert refused.returncode == 1 and "--version N" in refused.stderr
    assert reset(edge, "--version", str(now_ms)).returncode == 0  # the operator confirms
    edge.start()
    wait_until(lambda: f"access list version {now_ms} applied" in edge.log.read_text())
