"""Tried as an attacker, on Mosquitto with the shipped production configuration (TLS device
listener, hub listener, per-listener accounts, the ACL), with a real hub and a real edge agent:
what the doors refuse, and that refusing does not stop what the hub sends afterwards.

The attacker here holds a hub broker account (`hub-2`, as if its password had leaked) or a
device's (a stolen Pi), never the hub's signing key.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from deploy.local_broker import LocalBroker
from hub.config import HubConfig
from hub.doors.access_lists import record_import
from hub.people.imports import import_members, import_sites
from hub.service import Hub
from telecentre import wire
from telecentre.signing import SigningKey
from tests.keys import FORGER_KEY, HUB_KEY, signed, signed_command
from tests.servers import free_port
from tests.waiting import wait_until

EDGE = str(Path(sys.executable).parent / "telecentre-edge")
MEMBER, FOREIGN = "04A2B3C4D5E6F7", "0F0F0F0F"
SITES = "sites: [{id: murat, name: La Cocotte Numérique}, {id: ydes, name: Ydes}]\n"
HEADER = "member_id,last_name,first_name,email,category,pass_since,pass_until,badges\n"
ELODIE = f"M0001,Vigier,Élodie,,independent,2020-01-01,,{MEMBER}\n"  # Pass: always
PAUL = "M0002,Delmas,Pierre,,employee,,,0A1B2C3D\n"
TOKEN = "department-token-0001"
#: Where the test, as the hub, checks that a subscription of the hub's is in place.
PROBE = wire.events_topic("probe", "probe")


def tool(name: str, broker: LocalBroker, user: str) -> list[str]:
    """`mosquitto_pub`/`mosquitto_sub` logged in as `user` on the listener of its kind."""
    if user in broker.hub_users:
        where = ["-p", str(broker.hub_port)]
    else:
        where = ["-p", str(broker.device_port), "--cafile", str(broker.ca)]
    return [name, "-h", "127.0.0.1", *where, "-u", user, "-P", broker.password(user), "-q", "1"]


def publish(
    broker: LocalBroker, user: str, topic: str, payload: bytes, retain: bool = False
) -> subprocess.CompletedProcess[bytes]:
    command = [*tool("mosquitto_pub", broker, user), "-t", topic, "-s"]
    return subprocess.run(
        [*command, *(["-r"] if retain else [])], input=payload, capture_output=True, timeout=60
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate `process`; kill it if it has not ended after a while (a loaded machine)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


class Watcher:
    """`mosquitto_sub` as `user` on `topics`, its output (`topic payload` lines) in a file."""

    def __init__(self, broker: LocalBroker, user: str, out: Path, *topics: str) -> None:
        self.out = out
        command = [*tool("mosquitto_sub", broker, user), "-v"]
        for topic in topics:
            command += ["-t", topic]
        self._file: IO[bytes] = out.open("wb")
        self.process = subprocess.Popen(command, stdout=self._file, stderr=subprocess.DEVNULL)

    def lines(self) -> list[str]:
        return self.out.read_text().splitlines()

    def stop(self) -> None:
        stop(self.process)
        self._file.close()


def subscribed(broker: LocalBroker, watcher: Watcher, probe_topic: str) -> None:
    """Wait until `watcher` receives what the hub publishes on `probe_topic`. (A watcher
    must not use the publisher's account: its client id is its username, and a second
    connection with it takes the first one's place.)"""

    def arrived() -> bool:
        publish(broker, "hub", probe_topic, b"probe")
        return any(line.startswith(f"{probe_topic} probe") for line in watcher.lines())

    wait_until(arrived, timeout=20, interval=0.2, message=f"nothing arrived on {probe_topic}")


# --- a real hub and a real door -------------------------------------------------------------


class Door:
    """`telecentre-edge` as on a Pi (stdin reader, mock pins), logged in as murat-door on the
    device listener over TLS, trusting the hub's public key only."""

    def __init__(
        self, tmp: Path, broker: LocalBroker, keys: tuple[SigningKey, ...] = (HUB_KEY,)
    ) -> None:
        self.log = tmp / "edge.log"
        config = tmp / "edge.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "site": "murat",
                    "device": "murat-door",
                    "mqtt": {
                        "host": "127.0.0.1",
                        "port": broker.device_port,
                        "username": "murat-door",
                        "password_file": str(broker.password_file("murat-door")),
                        "tls": {"ca": str(broker.ca)},
                        "keepalive_s": 5,
                    },
                    "state_dir": str(tmp / "edge-state"),
                    "pins": "mock",
                    "status_interval_s": 1,
                    "readers": [{"id": "entrance", "type": "stdin", "direction": "toggle"}],
                    "doors": [{"id": "main", "strike_pin": 27, "unlock_s": 1}],
                    "access": {"hub_public_keys": [key.public_text for key in keys]},
                    # This machine's kernel may not report NTP (a container): its clock is right.
                    "clock": {"assume_synced": True},
                }
            )
        )
        self.process = subprocess.Popen(
            [EDGE, "--config", str(config)],
            stdin=subprocess.PIPE,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )

    def text(self) -> str:
        return self.log.read_text()

    def applied(self) -> list[int]:
        return [
            int(line.split("access list version ")[1].split()[0])
            for line in self.text().splitlines()
            if "applied:" in line and "access list version " in line
        ]

    def refusals(self) -> list[str]:
        return [line for line in self.text().splitlines() if "access list rejected" in line]

    def tap(self, badge: str) -> str:
        """The door's decision on `badge`: `granted`, or `denied (reason)`."""
        before = self.text().count(" on reader entrance: ")
        assert self.process.stdin is not None
        self.process.stdin.write(f"{badge}\n".encode())
        self.process.stdin.flush()
        wait_until(lambda: self.text().count(" on reader entrance: ") > before, timeout=20)
        decisions = [line for line in self.text().splitlines() if " on reader entrance: " in line]
        return decisions[before].split(" on reader entrance: ")[1]

    def stop(self) -> None:
        stop(self.process)


def hub_config(tmp_path: Path, broker: LocalBroker, key_file: Path) -> HubConfig:
    return HubConfig.model_validate(
        {
            "state_dir": str(tmp_path / "hub"),
            "access_lists": {"signing_key_file": str(key_file)},
            "mqtt": {
                "port": broker.hub_port,
                "username": "hub",
                "password_file": str(broker.password_file("hub")),
            },
            "http": {"port": free_port()},
            "api_tokens": {TOKEN: "department"},
        }
    )


@pytest.fixture
def hub(tmp_path: Path, production_broker: LocalBroker) -> Iterator[Hub]:
    key_file = tmp_path / "hub" / "access-list.key"
    HUB_KEY.save(key_file)  # the key the door trusts
    service = Hub(hub_config(tmp_path, production_broker, key_file))
    with service.sessions.begin() as session:
        import_sites(session, SITES)
        import_members(session, HEADER + ELODIE + PAUL)
    service.start()
    yield service
    service.stop()


@pytest.fixture
def door(tmp_path: Path, production_broker: LocalBroker, hub: Hub) -> Iterator[Door]:
    edge = Door(tmp_path, production_broker)
    yield edge
    edge.stop()


def retained_list(broker: LocalBroker) -> dict[str, Any]:
    run = subprocess.run(
        [*tool("mosquitto_sub", broker, "hub-2"), "-t", wire.access_topic("murat"),
         "-C", "1", "-W", "10"],
        capture_output=True, timeout=30, check=True,
    )  # fmt: skip
    return wire.access_list_data(run.stdout.strip())


def in_ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def test_forged_lists_are_refused_and_a_revocation_still_reaches_the_door(
    production_broker: LocalBroker, hub: Hub, door: Door
) -> None:
    wait_until(lambda: door.applied(), timeout=30, message="the hub's list never arrived")
    assert door.tap(MEMBER) == "granted"
    assert door.tap(FOREIGN) == "denied (unknown)"

    genuine = retained_list(production_broker)
    in_force = genuine["version"]
    grant = {"badge": FOREIGN, "hours": "always"}
    unsigned = {k: v for k, v in genuine.items() if k not in ("sig", "key_id")}
    forged_badges = unsigned | {"version": in_force + 1, "badges": [*genuine["badges"], grant]}
    now = datetime.now(UTC)
    forgeries = {
        "unsigned": wire.encode(forged_badges),
        "badge added after signing": wire.encode(
            genuine | {"version": in_force + 1, "badges": [*genuine["badges"], grant]}
        ),
        "signed by another key": signed(forged_badges, key=FORGER_KEY),
        "another site's list": signed(forged_badges | {"site": "ydes"}),
        "a version two days ahead": signed(
            forged_badges | {"version": in_ms(now + timedelta(days=2))}
        ),
        "a version past 2^63": signed(forged_badges | {"version": 2**63 + 5}),
    }
    for count, (what, payload) in enumerate(forgeries.items(), start=1):
        published = publish(
            production_broker, "hub-2", wire.access_topic("murat"), payload, retain=True
        )
        assert published.returncode == 0, published.stderr
        wait_until(
            lambda count=count: len(door.refusals()) == count,  # type: ignore[misc]
            timeout=20,
            message=f"the door did not refuse the list with {what}",
        )
    assert door.applied() == [in_force]
    refusals = "\n".join(door.refusals())
    for reason in (
        "the list is not signed",
        "the signature does not hold",
        f"signed by key '{FORGER_KEY.key_id}', which this edge does not trust",
        "list for 'ydes', this is 'murat'",
        "more than 1 day ahead of this edge's clock",
        "field 'version'",
    ):
        assert reason in refusals
    assert f"the one in force (version {in_force}) stays" in refusals
    assert door.tap(FOREIGN) == "denied (unknown)"
    assert door.tap(MEMBER) == "granted"

    # The department withdraws Élodie's badge: the hub's next list reaches the door.
    with hub.sessions.begin() as session:
        result = import_members(session, HEADER + ELODIE.replace(MEMBER, "") + PAUL)
        record_import(session, "cli:test", "members", result.access_changed)
    hub.tick()
    wait_until(lambda: len(door.applied()) == 2, timeout=30, message="no revocation arrived")
    assert door.applied()[1] > in_force
    assert door.tap(MEMBER) == "denied (revoked)"
    assert door.tap(FOREIGN) == "denied (unknown)"

    # ... and the hub sees the door decide from its site's latest list.
    def device() -> dict[str, Any]:
        request = urllib.request.Request(
            f"{hub.url}/api/v1/devices?site=murat", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            rows: list[dict[str, Any]] = json.load(answer)["devices"]
        return next((row for row in rows if row["device"] == "murat-door"), {})

    wait_until(lambda: device().get("access_version") == door.applied()[1], timeout=30)
    assert device()["latest_access_version"] == door.applied()[1]
    assert device()["health"] == "ok"
    assert hub.ingest.counters.wrong_sender == 0


def test_a_stolen_pi_cannot_publish_an_access_list(
    production_broker: LocalBroker, hub: Hub, door: Door
) -> None:
    wait_until(lambda: door.applied(), timeout=30, message="the hub's list never arrived")
    genuine = retained_list(production_broker)
    forged = wire.encode(genuine | {"badges": [{"badge": FOREIGN, "hours": "always"}]})
    for device in ("murat-door", "ydes-door"):
        publish(production_broker, device, wire.access_topic("murat"), forged, retain=True)
    # The broker dropped them (ACL): the retained list is still the hub's.
    assert retained_list(production_broker) == genuine
    assert door.refusals() == []
    assert door.tap(FOREIGN) == "denied (unknown)"


# --- only the hub opens a door ---------------------------------------------------------------


def unlock(site: str = "murat", device: str = "murat-door", **changes: Any) -> bytes:
    """A command as the hub signs it (captured, or sent again by someone who holds it)."""
    return signed_command(site, device, **changes)


def test_the_watch_account_reads_everything_but_opens_nothing(
    production_broker: LocalBroker, hub: Hub, door: Door, tmp_path: Path
) -> None:
    broker = production_broker
    wait_until(lambda: door.applied(), timeout=30, message="the hub's list never arrived")
    genuine = retained_list(broker)
    watch = Watcher(broker, "hub-watch", tmp_path / "watch.txt", f"{wire.ROOT}/#")
    try:
        subscribed(broker, watch, PROBE)  # it reads what the hub and the doors send
    finally:
        watch.stop()  # (its client id is its name: publishing as it below would end it)
    assert any(line.startswith(f"{wire.access_topic('murat')} ") for line in watch.lines())
    command_topic = wire.command_topic("murat", "murat-door")
    # A fresh command signed by the hub's key, as if captured: the broker drops it from the
    # watch account (retained or not), so the door never sees it; a list too.
    for retain in (True, False):
        sent = publish(broker, "hub-watch", command_topic, unlock(seconds=600), retain=retain)
        assert sent.returncode == 0, sent.stderr
    forged = wire.encode(genuine | {"badges": [{"badge": FOREIGN, "hours": "always"}]})
    publish(broker, "hub-watch", wire.access_topic("murat"), forged, retain=True)
    # The same door obeys the hub: once its command is in, the ones before were judged.
    publish(broker, "hub-2", command_topic, unlock(command_id="from-the-hub"))
    wait_until(lambda: "command from-the-hub: unlock door main" in door.text(), timeout=20)
    commands = [line for line in door.text().splitlines() if "command" in line]
    assert len(commands) == 1 and "command from-the-hub" in commands[0]
    assert retained_list(broker) == genuine
    assert granted(broker, "hub-watch", f"{wire.ROOT}/#", wire.HUB_EVENTS_SUBSCRIPTION) == {
        f"{wire.ROOT}/#": True,
        wire.HUB_EVENTS_SUBSCRIPTION: False,
    }


def test_a_replayed_expired_or_retained_command_is_ignored_by_a_real_door(
    production_broker: LocalBroker, hub: Hub, door: Door, tmp_path: Path
) -> None:
    """The attacker holds a hub broker account (`hub-2`) and commands the hub once signed."""
    broker = production_broker
    wait_until(lambda: door.applied(), timeout=30, message="the hub's list never arrived")
    topic = wire.command_topic("murat", "murat-door")

    def judged(text: str) -> None:
        wait_until(lambda: text in door.text(), timeout=20, message=f"never logged: {text}")

    captured = unlock(command_id="captured")
    publish(broker, "hub-2", topic, captured)
    judged("command captured: unlock door main")
    publish(broker, "hub-2", topic, captured)
    judged("command captured was obeyed already: a replay")
    stale = unlock(command_id="stale", issued=datetime.now(UTC) - timedelta(minutes=5))
    publish(broker, "hub-2", topic, stale)
    judged("expired at")
    other_door = unlock(device="murat-back", command_id="other-door")
    publish(broker, "hub-2", topic, other_door)
    judged("it is for murat/murat-back, this is murat/murat-door")
    assert door.text().count(": unlock door main") == 1  # the captured command, once
    door.stop()
    # Left retained on the broker while the door is away: delivered at its next connection.
    kept = unlock(command_id="kept")
    assert publish(broker, "hub-2", topic, kept, retain=True).returncode == 0
    again = Door(tmp_path, broker)
    try:
        wait_until(lambda: "command ignored: it came retained" in again.text(), timeout=30)
        assert "command kept: unlock" not in again.text()
    finally:
        again.stop()


# --- one identity per device ----------------------------------------------------------------


class DeviceClient:
    """A paho client logged in as `user` over TLS on the device listener, kept connected."""

    def __init__(self, broker: LocalBroker, user: str) -> None:
        self._answer: list[bool] = []
        self._done = threading.Event()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=user, protocol=mqtt.MQTTv5)
        client.username_pw_set(user, broker.password(user))
        client.tls_set(ca_certs=str(broker.ca))
        client.on_subscribe = self._subscribed
        client.connect("127.0.0.1", broker.device_port)
        client.loop_start()
        self.client = client

    def _subscribed(self, _c: object, _u: object, _mid: int, codes: list[Any], _p: object) -> None:
        self._answer[:] = [not codes[0].is_failure]
        self._done.set()

    def subscribe(self, topic: str) -> bool:
        """Whether the broker granted the subscription (its SUBACK)."""
        self._done.clear()
        self.client.subscribe(topic, qos=1)
        assert self._done.wait(20), f"no SUBACK for {topic}"
        return self._answer[0]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def granted(broker: LocalBroker, user: str, *filters: str) -> dict[str, bool]:
    """Subscribe to each of `filters` as `user`: which ones the broker granted."""
    client = DeviceClient(broker, user)
    try:
        return {topic: client.subscribe(topic) for topic in filters}
    finally:
        client.close()


def test_a_device_subscribes_only_to_its_own_topics(production_broker: LocalBroker) -> None:
    own = [
        wire.access_topic("murat"),
        wire.command_topic("murat", "murat-door"),
        wire.ack_topic("murat", "murat-door"),
        wire.status_topic("murat", "murat-door"),
    ]
    others = [
        "$share/hub/telecentre/+/events/+",  # the hub's shared group
        "$share/hub/telecentre/murat/events/murat-door",
        "$share/x/telecentre/murat/access",
        "#",
        f"{wire.ROOT}/#",
        f"{wire.ROOT}/+/access",
        f"{wire.ROOT}/murat/+",
        wire.access_topic("ydes"),
        wire.command_topic("murat", "murat-back"),
        wire.ack_topic("ydes", "ydes-door"),
        wire.events_topic("murat", "murat-back"),
        wire.events_topic("murat", "murat-door"),  # its own events: it writes them only
        wire.status_topic("murat", "+"),
        "$SYS/#",
    ]
    answers = granted(production_broker, "murat-door", *own, *others)
    assert [topic for topic in own if not answers[topic]] == []
    assert [topic for topic in others if answers[topic]] == []


def test_a_device_cannot_take_events_from_the_hubs_shared_group(
    production_broker: LocalBroker, hub: Hub, tmp_path: Path
) -> None:
    """With an `acl_file`, the broker dealt a device that joined `$share/hub` its share of
    the events and then withheld them. Sent here once each (no edge to send them again):
    every event must reach the hub."""
    broker = production_broker
    wait_until(hub.ingest.subscribed.is_set, timeout=30)
    thieves = [DeviceClient(broker, device) for device in ("murat-back", "hub-watch")]
    try:
        for thief in thieves:
            assert not thief.subscribe(wire.HUB_EVENTS_SUBSCRIPTION)
        events = {
            device: [denied_tap(site, device, n) for n in range(20)]
            for site, device in (("murat", "murat-door"), ("ydes", "ydes-door"))
        }
        for device, payloads in events.items():
            site = "murat" if device.startswith("murat") else "ydes"
            sent = subprocess.run(
                [*tool("mosquitto_pub", broker, device), "-t", wire.events_topic(site, device),
                 "-l"],
                input=b"\n".join(payloads) + b"\n", capture_output=True, timeout=60,
            )  # fmt: skip
            assert sent.returncode == 0, sent.stderr
        wait_until(lambda: hub_events(hub) == 40, timeout=30, message="events went missing")
    finally:
        for thief in thieves:
            thief.close()


def denied_tap(site: str, device: str, n: int) -> bytes:
    event = wire.badge_event(
        site=site, device=device, badge=f"0A0B0C{n:02X}", reader="entrance",
        direction="toggle", access="denied", reason="unknown", clock_synced=True,
    )  # fmt: skip
    return wire.encode(event | {"seq": n + 1})


def hub_events(hub: Hub) -> int:
    from sqlalchemy import func, select

    from hub.store.models import Event

    with hub.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Event)) or 0)


def test_a_device_speaks_only_as_itself_at_its_own_site(
    production_broker: LocalBroker, tmp_path: Path
) -> None:
    broker = production_broker
    hub_view = Watcher(broker, "hub-2", tmp_path / "hub.txt", wire.ALL_EVENTS, wire.ALL_STATUSES)
    own = wire.events_topic("murat", "murat-door")
    try:
        subscribed(broker, hub_view, PROBE)
        attempts = [
            (wire.events_topic("ydes", "murat-door"), b"another site"),
            (wire.events_topic("murat", "murat-back"), b"another door"),
            (wire.status_topic("murat", "murat-back"), b"another door's status"),
            (wire.status_topic("ydes", "murat-door"), b"another site's status"),
            (wire.command_topic("murat", "murat-back"), b"a command"),
            (wire.ack_topic("murat", "murat-back"), b"an ack"),
            (wire.occupancy_topic("murat"), b"occupancy"),
        ]
        for topic, payload in attempts:
            publish(broker, "murat-door", topic, payload)
        publish(broker, "murat-door", own, b"genuine")
        # One connection is handled in order: once the last is in, the others were judged.
        wait_until(lambda: f"{own} genuine" in hub_view.lines(), timeout=20)
    finally:
        hub_view.stop()
    assert [line for line in hub_view.lines() if not line.startswith(PROBE)] == [f"{own} genuine"]


def test_each_listener_takes_only_its_own_accounts_and_devices_only_tls(
    production_broker: LocalBroker,
) -> None:
    broker = production_broker
    topic = wire.status_topic("murat", "murat-door")
    plain = ["mosquitto_pub", "-h", "127.0.0.1", "-q", "1", "-t", topic, "-m", "x"]

    def refused(command: list[str]) -> bool:
        return subprocess.run(command, capture_output=True, timeout=30).returncode != 0

    device_secret = ["-u", "murat-door", "-P", broker.password("murat-door")]
    hub_secret = ["-u", "hub", "-P", broker.password("hub")]
    device_port = ["-p", str(broker.device_port)]
    tls = ["--cafile", str(broker.ca)]
    assert not refused([*plain, *device_port, *tls, *device_secret])
    assert refused([*plain, *device_port, *device_secret])  # no TLS
    assert refused([*plain, *device_port, *tls, *hub_secret])  # the hub account, from outside
    assert refused([*plain, *device_port, *tls])  # anonymous
    assert refused([*plain, "-p", str(broker.hub_port), *device_secret])  # a device, inside
    assert not refused([*plain, "-p", str(broker.hub_port), *hub_secret])


# --- a broker that holds ----------------------------------------------------------------------


def test_an_oversize_publish_from_a_device_is_refused_by_the_broker(
    production_broker: LocalBroker, tmp_path: Path
) -> None:
    broker = production_broker
    hub_view = Watcher(broker, "hub-2", tmp_path / "hub.txt", wire.ALL_EVENTS)
    own = wire.events_topic("murat", "murat-door")
    try:
        subscribed(broker, hub_view, PROBE)
        oversize = publish(broker, "murat-door", own, b"x" * (wire.MAX_ACCESS_LIST_BYTES + 8192))
        assert oversize.returncode != 0  # disconnected, not delivered
        publish(broker, "murat-door", own, b"after")
        wait_until(lambda: f"{own} after" in hub_view.lines(), timeout=20)
    finally:
        hub_view.stop()
    assert [line[:80] for line in hub_view.lines() if line.startswith(own)] == [f"{own} after"]
    assert "murat-door disconnected due to oversize packet" in broker.log.read_text()


def test_the_largest_access_list_the_protocol_allows_reaches_a_door(
    production_broker: LocalBroker, tmp_path: Path
) -> None:
    """The packet limit is the broker's for every client: it must leave the hub room for it."""
    broker = production_broker
    payload = b"x" * wire.MAX_ACCESS_LIST_BYTES
    sent = publish(broker, "hub", wire.access_topic("murat"), payload, retain=True)
    assert sent.returncode == 0, sent.stderr
    run = subprocess.run(
        [*tool("mosquitto_sub", broker, "murat-door"), "-t", wire.access_topic("murat"),
         "-C", "1", "-W", "20"],
        capture_output=True, timeout=60,
    )  # fmt: skip
    assert run.stdout.strip() == payload


def test_a_device_reads_only_its_own_sites_access_list(production_broker: LocalBroker) -> None:
    broker = production_broker
    for site in ("murat", "ydes"):
        publish(broker, "hub", wire.access_topic(site), f"list of {site}".encode(), retain=True)

    def receive(topic: str) -> list[str]:
        run = subprocess.run(
            [*tool("mosquitto_sub", broker, "murat-door"), "-t", topic, "-W", "2", "-v"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        return run.stdout.splitlines()

    murat = [f"{wire.access_topic('murat')} list of murat"]
    assert receive(wire.access_topic("murat")) == murat
    assert receive(wire.access_topic("ydes")) == []
    assert receive(f"{wire.ROOT}/+/access") == []  # refused: it names its own topics only


def test_a_key_rotation_with_two_keys_keeps_the_door_obeying_the_hub(
    tmp_path: Path, production_broker: LocalBroker, hub: Hub
) -> None:
    """docs/operations.md, the key's life: the door trusts the old and the new key, then the
    hub switches to the new one (restarted with its file), and its next lists still apply."""
    new_key_file = tmp_path / "access-list-2027.key"
    new_key = SigningKey.load_or_create(new_key_file)
    door = Door(tmp_path, production_broker, keys=(HUB_KEY, new_key))
    try:
        wait_until(lambda: door.applied(), timeout=30, message="the hub's list never arrived")
        assert f"signed by hub key {HUB_KEY.key_id}" in door.text()
        hub.stop()
        rotated = Hub(hub_config(tmp_path, production_broker, new_key_file))
        rotated.start()  # fresh lists at start, signed with the new key
        try:
            wait_until(lambda: len(door.applied()) == 2, timeout=30, message="no new list")
            assert f"signed by hub key {new_key.key_id}" in door.text()
            assert door.refusals() == []
            assert door.tap(MEMBER) == "granted"
        finally:
            rotated.stop()
    finally:
        door.stop()
