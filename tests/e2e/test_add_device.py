"""`deploy/add-device SITE DEVICE` as an installer runs it: a new door gets its broker
account and its Pi's files, and a real edge agent started from those files connects to the
shipped broker and obeys its site's list; what it refuses leaves everything as it was."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from deploy.local_broker import LocalBroker
from telecentre import wire
from tests.keys import HUB_KEY, signed
from tests.servers import REPO
from tests.waiting import wait_until

SCRIPT = REPO / "deploy" / "add-device"
EDGE = str(Path(sys.executable).parent / "telecentre-edge")


def add_device(broker: LocalBroker, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(SCRIPT),
            "--dynsec", str(broker.directory / "telecentre-dynsec.json"),
            "--out", str(out),
            "--host", "127.0.0.1",
            "--port", str(broker.device_port),
            "--ca", str(broker.ca),
            "--hub-key", HUB_KEY.public_text,
            "--etc", str(out),  # the files stay where they are written (on a Pi: /etc/telecentre)
            *args,
        ],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.fixture
def broker(tmp_path: Path) -> LocalBroker:
    """The shipped configuration with one door already; not started (the script runs first,
    as it does before `systemctl restart mosquitto`)."""
    return LocalBroker(tmp_path / "broker", [("murat", "murat-door")])


def test_a_door_added_by_the_script_connects_and_obeys_its_sites_list(
    broker: LocalBroker, tmp_path: Path
) -> None:
    out = tmp_path / "edge-config" / "ydes-door"
    made = add_device(broker, out, "ydes", "ydes-door")
    assert made.returncode == 0, made.stderr
    assert "systemctl restart mosquitto" in made.stdout
    for private in (out / "mqtt.password", broker.directory / "telecentre-dynsec.json"):
        assert private.stat().st_mode & 0o077 == 0, private
    assert (out / "hub-public-keys").read_text() == f"{HUB_KEY.public_text}\n"
    assert (out / "ca.crt").read_bytes() == broker.ca.read_bytes()
    config = yaml.safe_load((out / "edge.yaml").read_text())
    assert (config["site"], config["device"], config["mqtt"]["username"]) == (
        "ydes", "ydes-door", "ydes-door",
    )  # fmt: skip
    # The Pi's installer adds its readers and doors; here: mock pins, this machine's clock.
    config |= {
        "state_dir": str(tmp_path / "state"),
        "pins": "mock",
        "doors": [{"id": "main", "strike_pin": 27}],
        "clock": {"assume_synced": True},
    }
    (out / "edge.yaml").write_text(yaml.safe_dump(config))
    broker.start()
    edge = None
    try:
        access = {"v": 1, "site": "ydes", "version": 7, "issued": "2026-11-22T08:00:00+01:00"}
        published = subprocess.run(
            ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.hub_port), "-u", "hub",
             "-P", broker.password("hub"), "-q", "1", "-r", "-t", wire.access_topic("ydes"),
             "-s"],
            input=signed(access), capture_output=True, timeout=30,
        )  # fmt: skip
        assert published.returncode == 0, published.stderr
        log = tmp_path / "edge.log"
        edge = subprocess.Popen(
            [EDGE, "--config", str(out / "edge.yaml")],
            stdin=subprocess.PIPE,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        wait_until(lambda: "access list version 7 applied" in log.read_text(), timeout=30)
    finally:
        if edge is not None:
            edge.terminate()
            edge.wait(timeout=30)
        broker.stop()


def test_what_the_script_refuses_changes_nothing(broker: LocalBroker, tmp_path: Path) -> None:
    dynsec = broker.directory / "telecentre-dynsec.json"
    before = dynsec.read_bytes()
    again = add_device(broker, tmp_path / "again", "murat", "murat-door")
    assert again.returncode == 1
    assert "already has an account 'murat-door'" in again.stderr
    wrong = add_device(broker, tmp_path / "wrong", "ydes", "ydes+door")
    assert wrong.returncode == 1 and "is not a site or device id" in wrong.stderr
    no_ca = add_device(broker, tmp_path / "no-ca", "ydes", "ydes-door", "--ca", "/nonexistent")
    assert no_ca.returncode == 1 and "no such CA certificate" in no_ca.stderr
    assert dynsec.read_bytes() == before
    assert not any((tmp_path / name).exists() for name in ("again", "wrong", "no-ca"))
    # A watcher: read-only, its password for whoever watches.
    watch = subprocess.run(
        [str(SCRIPT), "--watcher", "hub-watch", "--dynsec", str(dynsec),
         "--out", str(tmp_path / "watch")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert watch.returncode == 0, watch.stderr
    accounts = json.loads(dynsec.read_text())
    roles = {client["username"]: client["roles"] for client in accounts["clients"]}
    assert roles["hub-watch"] == [{"rolename": "watch"}]
    assert (tmp_path / "watch" / "mqtt.password").stat().st_mode & 0o077 == 0
