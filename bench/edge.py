"""Edge agent benchmarks: `.venv/bin/python -m bench.edge [--taps 1000] [--backlog 100000]`.

Prints figures, asserts nothing. Each rate is shown next to a baseline measured in the same
run on the same machine (a bare paho-mqtt publisher for the outbox drain). What we aim for on
a 2-core machine like CI's: tap to strike p99 under 50 ms with the broker up or down, backlog
drain at least half the bare publisher's rate, idle CPU under 1 % and resident memory under
60 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import yaml
from gpiozero import Device
from gpiozero.pins.mock import MockFactory, MockPin
from paho.mqtt.enums import CallbackAPIVersion

from edge.access import AccessRules
from edge.agent import Agent
from edge.clock import Clock
from edge.clock_hold import ClockHold
from edge.config import EdgeConfig
from edge.hardware import build_hardware
from edge.outbox import SCHEMA, Outbox
from edge.uplink import Uplink
from telecentre import wire
from telecentre.signing import SigningKey, TrustedKeys
from tests.servers import Mosquitto, free_port

SITE, DEVICE, BADGE = "bench", "bench-door", "04A2B3C4D5E6F7"
STRIKE_PIN = 27


class TimedPin(MockPin):  # type: ignore[misc]
    """A mock pin that notes when it goes high: the moment the strike is released."""

    went_high = threading.Event()
    at = 0.0

    def _change_state(self, value: bool) -> bool:
        changed: bool = super()._change_state(value)
        if changed and value and self.info.name == f"GPIO{STRIKE_PIN}":
            TimedPin.at = time.perf_counter()
            TimedPin.went_high.set()
        return changed


#: The bench's own hub key (signing is part of what applying a list costs).
HUB_KEY = SigningKey.generate()
ACCESS = {"hub_public_keys": [HUB_KEY.public_text]}


def access_list(badges: list[str], version: int = 1) -> bytes:
    return HUB_KEY.sign_access_list(
        {
            "v": 1,
            "site": SITE,
            "version": version,
            "issued": datetime.now(UTC).isoformat(),
            "opening": {},
            "badges": [{"badge": b, "until": None, "hours": "always"} for b in badges],
        }
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def tap_to_strike(state: Path, port: int, taps: int) -> list[float]:
    """Milliseconds from a badge line written to the stdin reader to the strike pin high."""
    Device.pin_factory = MockFactory(pin_class=TimedPin)
    config = EdgeConfig.model_validate(
        {
            "site": SITE,
            "device": DEVICE,
            "mqtt": {"port": port},
            "state_dir": str(state),
            "pins": "mock",
            "readers": [{"id": "entrance", "type": "stdin"}],
            "doors": [{"id": "main", "strike_pin": STRIKE_PIN, "unlock_s": 30}],
            "access": ACCESS,
        }
    )
    read_end, write_end = os.pipe()
    with os.fdopen(read_end, "r") as stdin, os.fdopen(write_end, "w") as feed:
        agent = Agent(config, build_hardware(config, stdin=stdin), clock=Clock(synced=lambda: True))
        agent.apply_access_list(access_list([BADGE]))
        agent.start()
        door = agent.doors["main"]
        latencies = []
        for _ in range(taps):
            door.lock()
            TimedPin.went_high.clear()
            start = time.perf_counter()
            feed.write(f"{BADGE}\n")
            feed.flush()
            if not TimedPin.went_high.wait(5):
                raise RuntimeError("the strike did not release within 5 s")
            latencies.append((TimedPin.at - start) * 1000)
        agent.stop()
    Device.pin_factory.reset()
    return latencies


def outbox_rate(state: Path, events: int) -> float:
    """Durable appends per second (one fsync'ed commit each)."""
    box = Outbox(state / "rate.db")
    event = wire.door_event(site=SITE, device=DEVICE, door="main", state="open", clock_synced=True)
    start = time.perf_counter()
    for _ in range(events):
        box.append(event)
    elapsed = time.perf_counter() - start
    box.close()
    return events / elapsed


def access_list_apply(state: Path, size: int) -> tuple[float, float, float]:
    """Seconds to apply a list of `size` badges; µs per decision with it and with a tiny one."""
    badges = [f"{i:014X}" for i in range(size)]
    payload = access_list(badges)
    trusted = TrustedKeys.from_texts([HUB_KEY.public_text])
    rules = AccessRules(state / "access.json", trusted)
    start = time.perf_counter()
    rules.apply(payload, SITE)
    applied = time.perf_counter() - start
    now = datetime.now(UTC)

    def per_decision(rules: AccessRules) -> float:
        start = time.perf_counter()
        for i in range(10_000):
            rules.decide(badges[(i * 7919) % len(badges)], now)
        return (time.perf_counter() - start) / 10_000 * 1e6

    large = per_decision(rules)
    small_rules = AccessRules(state / "small.json", trusted)
    small_rules.apply(access_list(badges[:10]), SITE)
    badges = badges[:10]
    return applied, large, per_decision(small_rules)


def fill_outbox(path: Path, events: int) -> None:
    """A backlog as a long outage leaves it (written in one transaction to save time)."""
    db = sqlite3.connect(path)
    db.executescript(SCHEMA)
    base = wire.door_event(site=SITE, device=DEVICE, door="main", state="open", clock_synced=True)
    db.executemany(
        "INSERT INTO events VALUES (?, ?)",
        ((seq, wire.encode({**base, "seq": seq})) for seq in range(1, events + 1)),
    )
    db.execute("UPDATE counter SET value = ?", (events,))
    db.commit()
    db.close()


#: The longest any one measurement may take: past it, what was done so far is reported.
DEADLINE_S = 600.0


def drain_rate(state: Path, port: int, events: int) -> tuple[float, int]:
    """Events per second from a full outbox to the broker's acknowledgements (with no hub
    here, the end-to-end acknowledgement is off: events leave on the broker's PUBACK), and
    how many left it within `DEADLINE_S`."""
    fill_outbox(state / "backlog.db", events)
    box = Outbox(state / "backlog.db", max_events=events + 10)
    config = EdgeConfig.model_validate(
        {"site": SITE, "device": DEVICE, "mqtt": {"port": port, "end_to_end": False}}
    )

    def offline_status(state: Any) -> wire.Status:
        return wire.Status(v=1, device=DEVICE, site=SITE, state=state, ts=datetime.now(UTC))

    uplink = Uplink(
        config.mqtt,
        SITE,
        DEVICE,
        box,
        offline_status,
        lambda _: None,
        lambda _payload, _retained: None,
        status_interval_s=3600,
        sendable_below=ClockHold(Clock(synced=lambda: True), box, 900).sendable_below,
    )
    start = time.perf_counter()
    uplink.start()
    while box.depth() > 0 and time.perf_counter() - start < DEADLINE_S:
        time.sleep(0.01)
    elapsed = time.perf_counter() - start
    drained = events - box.depth()
    uplink.stop()
    box.close()
    return drained / elapsed, drained


def bare_publisher_rate(port: int, events: int, inflight: int) -> tuple[float, int]:
    """The baseline: paho QoS 1 publishes of the same payloads, same window, no outbox; and
    how many the broker acknowledged within `DEADLINE_S`.

    Published no further ahead of the acknowledgements than the window: paho numbers a
    message when `publish` is called, and its message ids wrap at 65,535, so 100,000
    messages queued at once gave two queued messages one id, the later replacing the
    earlier, whose acknowledgement never came (the run then waited for ever)."""
    payload = wire.encode(
        {
            **wire.door_event(
                site=SITE, device=DEVICE, door="main", state="open", clock_synced=True
            ),
            "seq": 1,
        }
    )
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bare-publisher")
    client.max_inflight_messages_set(inflight)
    done = threading.Event()
    window = threading.Semaphore(inflight)
    acked = 0

    def published(*_: Any) -> None:
        nonlocal acked
        acked += 1
        window.release()
        if acked == events:
            done.set()

    client.on_publish = published
    client.connect("127.0.0.1", port)
    client.loop_start()
    start = time.perf_counter()
    deadline = start + DEADLINE_S
    for _ in range(events):
        if not window.acquire(timeout=max(0.0, deadline - time.perf_counter())):
            break
        client.publish(wire.events_topic(SITE, DEVICE), payload, qos=1)
    done.wait(max(0.0, deadline - time.perf_counter()))
    elapsed = time.perf_counter() - start
    client.disconnect()
    client.loop_stop()
    return acked / elapsed, acked


def idle_footprint(state: Path, port: int, seconds: float) -> tuple[float, float]:
    """CPU % and resident MB of an idle `telecentre-edge` process connected to the broker."""
    config = state / "idle.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "site": SITE,
                "device": DEVICE,
                "mqtt": {"port": port},
                "state_dir": str(state / "idle"),
                "pins": "mock",
                "readers": [{"id": "entrance", "type": "stdin"}],
                "doors": [{"id": "main", "strike_pin": 27, "sensor_pin": 17, "exit_pin": 22}],
                "feedback": {"green_led_pin": 5, "red_led_pin": 6, "buzzer_pin": 13},
                "access": ACCESS,
            }
        )
    )
    edge = Path(sys.executable).parent / "telecentre-edge"
    process = subprocess.Popen(
        [str(edge), "--config", str(config)], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL
    )
    time.sleep(3)  # start-up is not idling

    def cpu_seconds() -> float:
        fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    before, start = cpu_seconds(), time.monotonic()
    time.sleep(seconds)
    cpu = (cpu_seconds() - before) / (time.monotonic() - start) * 100
    rss_kb = next(
        int(line.split()[1])
        for line in Path(f"/proc/{process.pid}/status").read_text().splitlines()
        if line.startswith("VmRSS:")
    )
    process.terminate()
    process.wait(10)
    return cpu, rss_kb / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--taps", type=int, default=1000)
    parser.add_argument("--appends", type=int, default=2000)
    parser.add_argument("--badges", type=int, default=100_000)
    parser.add_argument("--backlog", type=int, default=100_000)
    parser.add_argument("--idle-seconds", type=float, default=10)
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        with Mosquitto(root / "broker") as server:
            up = tap_to_strike(root / "up", server.port, args.taps)
            results["tap_to_strike_ms_broker_up"] = {
                "median": statistics.median(up),
                "p99": percentile(up, 0.99),
            }
            down = tap_to_strike(root / "down", free_port(), args.taps)
            results["tap_to_strike_ms_broker_down"] = {
                "median": statistics.median(down),
                "p99": percentile(down, 0.99),
            }
            results["outbox_durable_appends_per_s"] = outbox_rate(root, args.appends)
            applied, large, small = access_list_apply(root, args.badges)
            results["access_list"] = {
                "badges": args.badges,
                "apply_s": applied,
                "decision_us_large_list": large,
                "decision_us_10_badges": small,
            }
            drain, drained = drain_rate(root, server.port, args.backlog)
            bare, acked = bare_publisher_rate(server.port, args.backlog, inflight=100)
            results["backlog_drain"] = {
                "events": args.backlog,
                "outbox_events_per_s": drain,
                "outbox_events_sent": drained,
                "bare_paho_qos1_per_s": bare,
                "bare_paho_acknowledged": acked,
                "ratio": drain / bare if bare else None,
            }
            cpu, rss = idle_footprint(root, server.port, args.idle_seconds)
            results["idle"] = {"cpu_percent": cpu, "rss_mb": rss}
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
