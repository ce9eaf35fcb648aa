"""End-to-end acknowledgement and duplicates known for ever, on a real Mosquitto and a real
`telecentre-hub`: the edge (its real `Uplink` and `Outbox`) keeps each event until the hub's
retained Ack covers it, so neither a broker `kill -9` nor retention followed by a redelivery
loses or doubles anything."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from edge.config import EdgeConfig
from edge.outbox import Outbox
from edge.uplink import Uplink
from hub.people.imports import import_members, import_sites
from hub.store.models import DeviceMark, Event, EventId, PresenceSession
from telecentre import wire
from tests.hub_process import HubProcess
from tests.servers import Mosquitto, Postgres
from tests.waiting import holds_for, wait_until

SITE, DEVICE = "murat", "murat-door"
TOPIC = wire.events_topic(SITE, DEVICE)
SITES = "sites: [{id: murat, name: La Cocotte Numérique}]\n"
MEMBERS = (
    "member_id,last_name,first_name,email,category,pass_since,pass_until,badges\n"
    "M001,Durand,Anne,,independent,,,04A2B3C4\n"
)


def eventually(condition: Any, failure: str, timeout: float = 60) -> None:
    wait_until(condition, timeout=timeout, interval=0.05, message=failure)


def count(sessions: sessionmaker[Session], model: type[object]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def tap(seq: int | None = None, ts: datetime | None = None) -> dict[str, Any]:
    event = wire.badge_event(
        site=SITE,
        device=DEVICE,
        badge="04A2B3C4",
        reader="entrance",
        direction="toggle",
        access="granted",
        clock_synced=True,
    )
    if ts is not None:
        event["ts"] = ts.isoformat(timespec="milliseconds")
    return event if seq is None else event | {"seq": seq}


def mosquitto_pub(broker: Mosquitto, topic: str, lines: list[str], retain: bool = False) -> None:
    command = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-t", topic, "-q", "1"]
    subprocess.run(
        [*command, *(["-r"] if retain else []), "-l"],
        input="\n".join(lines) + "\n",
        text=True,
        check=True,
        timeout=60,
    )


def retained_ack(broker: Mosquitto) -> wire.Ack | None:
    """The Ack the broker retains for the device, as the edge gets it when it subscribes."""
    command = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port), "-C", "1", "-W", "3"]
    found = subprocess.run(
        [*command, "-t", wire.ack_topic(SITE, DEVICE)], capture_output=True, timeout=30
    )
    return wire.parse_ack(found.stdout) if found.stdout.strip() else None


def sessions_table(sessions: sessionmaker[Session]) -> list[tuple[Any, ...]]:
    with sessions() as session:
        rows = session.execute(
            select(
                PresenceSession.member_id,
                PresenceSession.site_id,
                PresenceSession.start,
                PresenceSession.end,
                PresenceSession.auto_closed,
                PresenceSession.start_event_id,
                PresenceSession.end_event_id,
            ).order_by(PresenceSession.start)
        )
        return [tuple(row) for row in rows]


@pytest.fixture
def sessions(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    with sessions.begin() as session:
        import_sites(session, SITES)
        import_members(session, MEMBERS)
    return sessions


class Edge:
    """The edge's outbox and uplink as the agent runs them, with a status of its own."""

    def __init__(self, state: Path, broker: Mosquitto, **mqtt_settings: Any) -> None:
        self.outbox = Outbox(state / "outbox.db")
        config = EdgeConfig.model_validate(
            {
                "site": SITE,
                "device": DEVICE,
                "mqtt": {"port": broker.port, "keepalive_s": 5, **mqtt_settings},
            }
        )
        self.uplink = Uplink(
            config.mqtt,
            SITE,
            DEVICE,
            self.outbox,
            self.status,
            lambda _: None,
            lambda _payload, _retained: None,
            status_interval_s=1,
        )

    def status(self, state: Literal["online", "offline"]) -> wire.Status:
        return wire.Status(
            v=1,
            device=DEVICE,
            site=SITE,
            state=state,
            ts=datetime.now(UTC),
            queue=self.outbox.depth(),
            outbox_floor=self.outbox.floor(),
        )

    def record(self, count: int) -> list[str]:
        ids = [self.outbox.append(tap())["id"] for _ in range(count)]
        self.uplink.notify()
        return ids

    def close(self) -> None:
        self.uplink.stop()
        self.outbox.close()


@pytest.fixture
def edges(tmp_path: Path) -> Iterator[list[Edge]]:
    started: list[Edge] = []
    yield started
    for edge in started:
        edge.close()


class Watcher:
    """Counts, by seq, the device's events the broker relays (it relays what it accepted)."""

    def __init__(self, broker: Mosquitto) -> None:
        self.seen: dict[int, int] = {}
        self._lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2)
        self.client.on_message = self._message
        self.client.connect("127.0.0.1", broker.port)
        self.client.subscribe(TOPIC, qos=0)
        self.client.loop_start()

    def _message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        seq = json.loads(message.payload)["seq"]
        with self._lock:
            self.seen[seq] = self.seen.get(seq, 0) + 1

    def times(self, seq: int) -> int:
        with self._lock:
            return self.seen.get(seq, 0)

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def watcher(broker: Mosquitto) -> Iterator[Watcher]:
    watching = Watcher(broker)
    wait_until(lambda: watching.client.is_connected(), timeout=15)
    yield watching
    watching.stop()


# --- the edge's side: the outbox shrinks on the hub's Ack, not on the broker's --------------


def publish_ack(broker: Mosquitto, seq: int, device: str = DEVICE) -> None:
    ack = wire.Ack(v=1, site=SITE, device=device, seq=seq, ts=datetime.now(UTC))
    mosquitto_pub(broker, wire.ack_topic(SITE, device), [wire.encode(ack).decode()], retain=True)


def test_the_outbox_shrinks_only_when_the_hubs_retained_ack_covers_its_events(
    broker: Mosquitto, watcher: Watcher, edges: list[Edge], tmp_path: Path
) -> None:
    edge = Edge(tmp_path / "edge", broker)
    edges.append(edge)
    edge.uplink.start()
    edge.record(10)
    eventually(lambda: all(watcher.times(seq) for seq in range(1, 11)), "the broker took all")
    # The broker acknowledged every one of them: they stay until the hub says it has them.
    assert holds_for(lambda: edge.outbox.depth() == 10, 1.0)
    publish_ack(broker, 4, device="ydes-door")  # another device's: not this one's business
    publish_ack(broker, 99)  # beyond the last seq this outbox gave: another outbox's mark
    assert holds_for(lambda: edge.outbox.depth() == 10, 1.0)
    publish_ack(broker, 6)
    eventually(lambda: edge.outbox.depth() == 4, "the hub's Ack did not shrink the outbox")
    assert [seq for seq, _ in edge.outbox.pending(0, 100)] == [7, 8, 9, 10]
    assert edge.status("online").outbox_floor == 7

    # The retained Ack again at the next connection: nothing more goes, nothing comes back.
    edge.close()
    edges.remove(edge)
    again = Edge(tmp_path / "edge", broker)
    edges.append(again)
    assert again.outbox.depth() == 4
    again.uplink.start()
    assert holds_for(lambda: again.outbox.depth() == 4, 1.0)
    publish_ack(broker, 10)
    eventually(lambda: again.outbox.depth() == 0, "the last Ack did not empty the outbox")


def test_what_the_hub_does_not_acknowledge_is_sent_again_from_the_oldest(
    broker: Mosquitto, watcher: Watcher, edges: list[Edge], tmp_path: Path
) -> None:
    edge = Edge(tmp_path / "edge", broker, hub_ack_timeout_s=0.5)
    edges.append(edge)
    edge.uplink.start()
    edge.record(5)
    eventually(lambda: watcher.times(5) >= 1, "the broker never got the events")
    publish_ack(broker, 2)
    eventually(lambda: edge.outbox.depth() == 3, "the Ack was not applied")
    # No Ack for 3 to 5: they go again, and only they.
    eventually(lambda: watcher.times(3) >= 2 and watcher.times(5) >= 2, "nothing sent again")
    assert watcher.times(1) == watcher.times(2) == 1
    assert edge.outbox.depth() == 3


def test_with_end_to_end_off_the_brokers_acknowledgement_is_enough(
    broker: Mosquitto, watcher: Watcher, edges: list[Edge], tmp_path: Path
) -> None:
    edge = Edge(tmp_path / "edge", broker, end_to_end=False)
    edges.append(edge)
    edge.uplink.start()
    edge.record(5)
    eventually(lambda: edge.outbox.depth() == 0, "the broker's PUBACKs did not empty it")


# --- with the real hub ----------------------------------------------------------------------


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_broker_killed_mid_stream_loses_nothing_and_doubles_nothing(
    broker: Mosquitto,
    sessions: sessionmaker[Session],
    db_url: str,
    tmp_path: Path,
    hubs: list[HubProcess],
    watcher: Watcher,
    edges: list[Edge],
) -> None:
    hub = HubProcess(tmp_path / "hub", broker, db_url, "hub-1")
    hubs.append(hub)
    hub.start()
    edge = Edge(tmp_path / "edge", broker, hub_ack_timeout_s=5)
    edges.append(edge)
    edge.uplink.start()
    ids = edge.record(300)
    eventually(lambda: count(sessions, Event) > 0, "the hub stored nothing")
    # The hub stalls (a slow disk): the broker takes the next events, acknowledges them to the
    # edge and holds them for the hub, in memory only.
    assert hub.process is not None
    hub.process.send_signal(signal.SIGSTOP)
    try:
        ids += edge.record(300)
        eventually(lambda: watcher.times(600) >= 1, "the broker never took the last event")
        broker.kill()
    finally:
        hub.process.send_signal(signal.SIGCONT)
    ids += edge.record(100)  # while the broker is down
    broker.start()

    eventually(lambda: count(sessions, Event) == 700, "events were lost", timeout=120)
    eventually(lambda: edge.outbox.depth() == 0, "the hub's Acks never emptied the outbox")
    with sessions() as session:
        stored = list(session.scalars(select(Event.id)))
    assert sorted(stored) == sorted(ids)

    def mark() -> tuple[int, int]:
        with sessions() as session:
            row = session.get_one(DeviceMark, DEVICE)
            return row.committed_seq, row.published_seq

    eventually(lambda: mark() == (700, 700), "the mark was not recorded as published")
    hub.signal(signal.SIGTERM)
    assert hub.stopped_counters()["accepted"] == 700


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)
def test_a_batch_redelivered_after_retention_and_a_hub_kill_is_counted_as_duplicates(
    broker: Mosquitto,
    sessions: sessionmaker[Session],
    db_url: str,
    tmp_path: Path,
    hubs: list[HubProcess],
) -> None:
    # A member's taps of a year ago, in and out: older than the 90 days raw events are kept.
    # A hub that keeps raw events longer takes them first (a hub keeping them 90 days would
    # quarantine them as too old, docs/rules.md), then one that keeps them 90 days restarts.
    hub = HubProcess(
        tmp_path / "hub", broker, db_url, "hub-1", {"retention": {"events_retention_days": 1000}}
    )
    hubs.append(hub)
    hub.start()
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=400)
    old = [wire.encode(tap(seq, start + timedelta(hours=seq))).decode() for seq in range(1, 201)]
    mosquitto_pub(broker, TOPIC, old)
    eventually(lambda: count(sessions, Event) == 200, "the old taps were not stored")
    before = sessions_table(sessions)
    assert len(before) == 100

    hub.signal(signal.SIGKILL)
    hub = HubProcess(tmp_path / "hub", broker, db_url, "hub-1")
    hubs.append(hub)
    hub.start()  # retention runs at start: the raw events go, their ids stay
    eventually(lambda: count(sessions, Event) == 0, "retention did not run at start")
    assert count(sessions, EventId) == 200

    # The same batch again (a broker redelivering it, an edge resending its backlog), then a
    # new event behind it (a door opening: no session), which says the batch was handled.
    mosquitto_pub(broker, TOPIC, old)
    door = wire.door_event(site=SITE, device=DEVICE, door="main", state="open", clock_synced=True)
    mosquitto_pub(broker, TOPIC, [wire.encode(door | {"seq": 201}).decode()])
    eventually(lambda: count(sessions, Event) == 1, "the new event was not stored")
    eventually(lambda: getattr(retained_ack(broker), "seq", 0) == 201, "no Ack for the new event")
    hub.signal(signal.SIGTERM)
    counters = hub.stopped_counters()
    assert counters["accepted"] == 1
    # The 200 again, and whatever the broker redelivered of what the killed hub had committed
    # but not yet acknowledged: all counted as duplicates, none accepted a second time.
    assert counters["duplicates"] >= 200
    assert sessions_table(sessions) == before
    assert count(sessions, EventId) == 201


class AckWatcher:
    """Every Ack the broker relays for the device, in the order it relays them."""

    def __init__(self, broker: Mosquitto) -> None:
        self.seqs: list[int] = []
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2)
        self.client.on_message = lambda _c, _u, m: self.seqs.append(
            wire.parse_ack(bytes(m.payload)).seq
        )
        self.client.connect("127.0.0.1", broker.port)
        self.client.subscribe(wire.ack_topic(SITE, DEVICE), qos=1)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.mark.postgres
def test_two_hubs_sharing_the_subscription_publish_a_mark_that_never_goes_down(
    broker: Mosquitto, postgres: Postgres, tmp_path: Path, hubs: list[HubProcess]
) -> None:
    db_url = postgres.create_database()
    for name in ("hub-1", "hub-2"):
        hubs.append(HubProcess(tmp_path / name, broker, db_url, name))
        hubs[-1].start()
    acks = AckWatcher(broker)
    try:
        # Out of order and twice over: the two hubs get interleaved halves of it.
        seqs = [*range(1001, 2001), *range(1, 1001)]
        events = {seq: wire.encode(tap(seq)).decode() for seq in seqs}
        mosquitto_pub(broker, TOPIC, [events[seq] for seq in seqs for _ in (1, 2)])
        eventually(lambda: acks.seqs[-1:] == [2000], "the hubs never acknowledged seq 2000")
    finally:
        acks.stop()
    assert acks.seqs == sorted(acks.seqs), "an Ack went down"
    assert getattr(retained_ack(broker), "seq", 0) == 2000
    for hub in hubs:
        hub.signal(signal.SIGTERM)
    assert sum(hub.stopped_counters()["accepted"] for hub in hubs) == 2000
    postgres.drop_database(db_url)
