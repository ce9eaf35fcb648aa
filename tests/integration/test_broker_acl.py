"""The broker ACL of telecentre/broker.py on a real Mosquitto: a device speaks only for its
own site and reads only its own site's access list and its own commands."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from telecentre import broker, wire
from tests.servers import Mosquitto
from tests.waiting import wait_until

PASSWORDS = {"hub": "hub-secret", "murat-door": "murat-secret", "ydes-door": "ydes-secret"}


@pytest.fixture
def secured_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    passwd = tmp_path / "passwd"
    for user, password in PASSWORDS.items():
        create = [] if passwd.exists() else ["-c"]
        subprocess.run(["mosquitto_passwd", "-b", *create, str(passwd), user, password], check=True)
    acl = tmp_path / "acl"
    acl.write_text(broker.acl([("murat", "murat-door"), ("ydes", "ydes-door")]))
    server = Mosquitto(
        tmp_path / "broker",
        extra=f"allow_anonymous false\npassword_file {passwd}\nacl_file {acl}\n",
    )
    server.start()
    yield server
    server.stop()


def client(tool: str, server: Mosquitto, user: str) -> list[str]:
    """The start of a `mosquitto_pub` or `mosquitto_sub` command logged in as `user`."""
    return [tool, "-h", "127.0.0.1", "-p", str(server.port), "-u", user,
            "-P", PASSWORDS[user], "-q", "1"]  # fmt: skip


def publish(server: Mosquitto, user: str, topic: str, message: str, retain: bool = False) -> None:
    retained = ["-r"] if retain else []
    command = [*client("mosquitto_pub", server, user), *retained, "-t", topic, "-m", message]
    subprocess.run(command, check=True)


def receive(server: Mosquitto, user: str, topic: str, seconds: int = 2) -> list[str]:
    """Messages `user` may read on `topic` (retained ones), within a few seconds."""
    run = subprocess.run(
        [*client("mosquitto_sub", server, user), "-t", topic, "-W", str(seconds), "-v"],
        capture_output=True,
        text=True,
    )
    return run.stdout.splitlines()


def test_a_device_publishes_only_as_itself_at_its_own_site(
    secured_broker: Mosquitto, tmp_path: Path
) -> None:
    seen = tmp_path / "seen.txt"
    watcher = subprocess.Popen(
        [*client("mosquitto_sub", secured_broker, "hub"), "-t", wire.ALL_EVENTS, "-v"],
        stdout=seen.open("w"),
    )
    probe = wire.events_topic("probe", "probe")

    def subscribed() -> bool:
        publish(secured_broker, "hub", probe, "probe")
        return probe in seen.read_text()

    try:
        wait_until(subscribed, timeout=20)
        publish(secured_broker, "murat-door", wire.events_topic("ydes", "murat-door"), "spoofed")
        publish(secured_broker, "murat-door", wire.events_topic("murat", "murat-back"), "posing")
        publish(secured_broker, "murat-door", wire.events_topic("murat", "murat-door"), "genuine")
        # The broker handles the two in order: once the second is seen, the first was judged.
        wait_until(lambda: "genuine" in seen.read_text(), timeout=20)
    finally:
        watcher.terminate()
        watcher.wait(10)
    lines = [line for line in seen.read_text().splitlines() if not line.startswith(probe)]
    assert lines == [f"{wire.events_topic('murat', 'murat-door')} genuine"]


def test_a_device_reads_only_its_own_site_list_and_commands(secured_broker: Mosquitto) -> None:
    for site in ("murat", "ydes"):
        publish(secured_broker, "hub", wire.access_topic(site), f"list of {site}", retain=True)
    assert receive(secured_broker, "murat-door", wire.access_topic("murat")) == [
        f"{wire.access_topic('murat')} list of murat"
    ]
    assert receive(secured_broker, "murat-door", wire.access_topic("ydes")) == []
    assert receive(secured_broker, "murat-door", f"{wire.ROOT}/+/access") == [
        f"{wire.access_topic('murat')} list of murat"
    ]
