"""Ingest against a real Mosquitto and real databases: every event stored once, whatever happens.

Events are published with `mosquitto_pub`, as an outside tool would; the hub runs in this
process or, where it must be killed, as the `telecentre-hub` service in its own.
"""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hub.config import Mqtt
from hub.intake.ingest import Ingest, LineError, ingest_lines
from hub.people.imports import import_members, import_sites
from hub.store import make_engine, make_sessionmaker, migrate
from hub.store.events import NewEvent
from hub.store.models import AuditEntry, Device, Event, RejectedEvent
from telecentre import wire
from tests.hub_process import HubProcess
from tests.servers import Mosquitto, Postgres
from tests.waiting import wait_until

MURAT_EVENTS = wire.events_topic("murat", "murat-door")
SITES = "sites: [{id: murat, name: La Cocotte Numérique}, {id: ydes, name: Ydes}]\n"

MEMBERS = (
    "member_id,last_name,first_name,email,category,pass_since,pass_until,badges\n"
    "M001,Durand,Anne,,independent,,,04A2B3C4\n"
)


def badge_event(seq: int, site: str = "murat", badge: str = "04A2B3C4") -> dict[str, Any]:
    event = wire.badge_event(
        site=site,
        device=f"{site}-door",
        badge=badge,
        reader="entrance",
        direction="toggle",
        access="granted",
        clock_synced=True,
    )
    return event | {"seq": seq}


def line(payload: dict[str, Any]) -> str:
    return wire.encode(payload).decode()


def publish(broker: Mosquitto, topic: str, payloads: list[str], retain: bool = False) -> None:
    """Each payload one QoS 1 message, over one connection, in order."""
    command = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-t", topic, "-q", "1"]
    subprocess.run(
        [*command, *(["-r"] if retain else []), "-l"],
        input="\n".join(payloads) + "\n",
        text=True,
        check=True,
        timeout=60,
    )


def publish_one(broker: Mosquitto, topic: str, payload: bytes) -> None:
    """A payload as one message whatever it holds (newlines, 20 KiB)."""
    command = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-t", topic, "-q", "1"]
    subprocess.run([*command, "-s"], input=payload, check=True, timeout=60)


def eventually(condition: Callable[[], object], failure: str) -> None:
    """Wait for `condition`; the deadline is generous: only a broken hub reaches it."""
    wait_until(condition, timeout=60, interval=0.05, message=failure)


def count(sessions: sessionmaker[Session], model: type[object]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


@pytest.fixture
def sessions(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """The migrated store of conftest's `sessions`, with this file's sites and members."""
    with sessions.begin() as session:
        import_sites(session, SITES)
        import_members(session, MEMBERS)
    return sessions


def test_a_json_lines_file_goes_through_validation_and_deduplication(
    sessions: sessionmaker[Session],
) -> None:
    known = badge_event(1) | {"ts": "2026-11-22T08:59:03.120+01:00"}
    unknown = badge_event(2, badge="0BADCAFE")
    door = wire.door_event(
        site="ydes", device="ydes-door", door="main", state="open", clock_synced=False
    ) | {"seq": 7}
    lines = [
        line(known),
        line(unknown),
        "",
        line(known),
        line(badge_event(3) | {"ts": "2026-11-22T08:59:03"}),
        "{not json",
        line(door),
    ]
    seen: list[NewEvent] = []
    with sessions.begin() as session:
        result = ingest_lines(session, lines, on_batch=[lambda _s, new: seen.extend(new)])
    assert (result.accepted, result.duplicates) == (3, 1)
    assert [error.line for error in result.rejected] == [5, 6]
    assert "field 'ts'" in result.rejected[0].error
    assert "not UTF-8 JSON" in result.rejected[1].error
    assert [(new.event.id, new.member_id) for new in seen] == [
        (known["id"], "M001"),
        (unknown["id"], None),
        (door["id"], None),
    ]
    with sessions() as session:
        stored = session.get_one(Event, known["id"])
        assert (stored.site, stored.type, stored.badge, stored.member_id) == (
            "murat",
            "badge",
            "04A2B3C4",
            "M001",
        )
        assert stored.ts == datetime(2026, 11, 22, 7, 59, 3, 120_000, tzinfo=UTC)
        assert stored.ts_offset_min == 60
        assert json.loads(stored.payload) == known

    with sessions.begin() as session:
        again = ingest_lines(session, lines)
    assert (again.accepted, again.duplicates) == (0, 4)
    assert again.rejected == [LineError(5, result.rejected[0].error), result.rejected[1]]
    assert count(sessions, Event) == 3
    assert count(sessions, RejectedEvent) == 4


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_live_events_are_stored_once_and_bad_ones_rejected_without_stopping(
    broker: Mosquitto, sessions: sessionmaker[Session]
) -> None:
    new_ids: list[str] = []
    ingest = Ingest(
        Mqtt(port=broker.port, client_id="hub-test"),
        sessions,
        batch_size=50,
        on_batch=[lambda _session, new: new_ids.extend(n.event.id for n in new)],
    )
    ingest.start()
    try:
        assert ingest.subscribed.wait(15), "the hub never subscribed"
        events = [line(badge_event(seq)) for seq in range(300)]
        publish(broker, MURAT_EVENTS, events)
        publish(broker, MURAT_EVENTS, events[:100])  # an edge resending
        bad = [
            line(badge_event(1, site="ydes")),  # spoofed: ydes's event on murat's topic
            line(badge_event(2) | {"type": "fire"}),
            line(badge_event(3) | {"ts": "yesterday"}),
            "<xml/>",
            line(badge_event(4) | {"device": "murat-back"}),  # murat-back's event, on ours
        ]
        publish(broker, MURAT_EVENTS, bad)
        publish_one(broker, MURAT_EVENTS, b'{"pad": "' + b"x" * 20_000 + b'"}')
        last = line(badge_event(300))
        publish(broker, MURAT_EVENTS, [last])

        eventually(lambda: ingest.counters.accepted == 301, "not every event was stored")
        eventually(lambda: ingest.counters.rejected == 6, "the bad payloads were not all rejected")
    finally:
        ingest.stop()
    assert ingest.counters.duplicates == 100
    assert (ingest.counters.wrong_sender, ingest.counters.oversize) == (2, 1)
    assert sorted(new_ids) == sorted(json.loads(e)["id"] for e in [*events, last])
    assert count(sessions, Event) == 301
    with sessions() as session:
        reasons = list(session.scalars(select(RejectedEvent.reason).order_by(RejectedEvent.id)))
        assert len(session.scalars(select(RejectedEvent.payload)).all()[-1]) < 4096
    assert "field 'site'" in reasons[0]
    assert "unknown event type 'fire'" in reasons[1]
    assert "field 'ts'" in reasons[2]
    assert "not UTF-8 JSON" in reasons[3]
    assert "field 'device': event of device 'murat-back' arrived on topic" in reasons[4]
    assert "20011 bytes is over the 16384-byte limit: refused unread" in reasons[5]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_batch_the_hooks_fail_once_is_stored_again_message_by_message(
    broker: Mosquitto, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("hub.intake.ingest.RETRY_S", 0.05)
    calls: list[list[str]] = []

    def presence(session: Session, new: list[NewEvent]) -> None:
        calls.append([n.event.id for n in new])
        session.add(AuditEntry(actor="presence", action="applied", detail={"n": len(new)}))
        if len(calls) == 1:
            raise RuntimeError("the presence engine failed")

    ingest = Ingest(Mqtt(port=broker.port, client_id="hub-test"), sessions, on_batch=[presence])
    ingest.start()
    try:
        assert ingest.subscribed.wait(15), "the hub never subscribed"
        events = [line(badge_event(seq)) for seq in range(10)]
        publish(broker, MURAT_EVENTS, events)
        eventually(lambda: ingest.counters.accepted == len(events), "the events were never stored")
    finally:
        ingest.stop()
    failed = set(calls[0])
    assert {event for call in calls[1:] for event in call} >= failed  # nothing of it lost
    assert count(sessions, Event) == len(events)
    assert count(sessions, RejectedEvent) == 0
    assert count(sessions, AuditEntry) == len(calls) - 1  # the failed transaction left nothing


def test_a_message_that_cannot_be_stored_is_rejected_and_ingest_goes_on(
    broker: Mosquitto, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("hub.intake.ingest.RETRY_S", 0.05)
    poison = badge_event(3)

    def presence(session: Session, new: list[NewEvent]) -> None:
        if any(n.event.id == poison["id"] for n in new):
            raise ValueError("a rule this event breaks")

    ingest = Ingest(Mqtt(port=broker.port, client_id="hub-test"), sessions, on_batch=[presence])
    ingest.start()
    try:
        assert ingest.subscribed.wait(15), "the hub never subscribed"
        events = [badge_event(seq) for seq in range(6) if seq != 3]
        publish(
            broker,
            MURAT_EVENTS,
            [line(e) for e in [*events[:3], poison, *events[3:]]],
        )
        eventually(lambda: ingest.counters.rejected == 1, "the poison message was not rejected")
        publish(broker, MURAT_EVENTS, [line(badge_event(10))])
        eventually(lambda: ingest.counters.accepted == len(events) + 1, "ingest stalled")
    finally:
        ingest.stop()
    with sessions() as session:
        reason = session.scalars(select(RejectedEvent.reason)).one()
        stored = set(session.scalars(select(Event.id)))
    assert reason == "could not be stored: ValueError: a rule this event breaks"
    assert poison["id"] not in stored and len(stored) == len(events) + 1


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_device_statuses_and_last_wills_update_the_devices(
    broker: Mosquitto, sessions: sessionmaker[Session]
) -> None:
    online = {
        "v": 1,
        "device": "murat-door",
        "site": "murat",
        "state": "online",
        "ts": "2026-11-22T08:00:00+01:00",
        "version": "0.1.0",
        "queue": 3,
        "clock_synced": True,
        "readers": {"entrance": "ok"},
        "doors": {"main": "closed"},
        "access_version": 1_795_400_000_123,  # an issue time in ms: 64-bit in the store
    }
    will = {"v": 1, "device": "murat-door", "site": "murat", "state": "offline", "ts": online["ts"]}
    topic = wire.status_topic("murat", "murat-door")
    publish(broker, topic, [json.dumps(online)], retain=True)  # before the hub: retained
    ingest = Ingest(Mqtt(port=broker.port, client_id="hub-test"), sessions)
    ingest.start()
    try:
        eventually(lambda: ingest.counters.statuses == 1, "the retained status was never recorded")
        publish(broker, topic, [json.dumps(will)], retain=True)
        eventually(lambda: ingest.counters.statuses == 2, "the last will was never recorded")
        publish(broker, wire.status_topic("ydes", "murat-door"), [json.dumps(online)])
        eventually(lambda: ingest.counters.rejected == 1, "the misplaced status was never rejected")
        assert ingest.counters.wrong_sender == 1
        absurd = online | {"access_version": 2**63 + 5}  # once an OverflowError in the store
        publish(broker, topic, [json.dumps(absurd)])
        eventually(lambda: ingest.counters.rejected == 2, "the absurd version was never rejected")
        # A status dated 2999 would be `last_seen` for good (the board would never see the
        # device fall silent); a door named with markup would reach the console and commands.
        publish(broker, topic, [json.dumps(online | {"ts": "2999-01-01T00:00:00+00:00"})])
        publish(broker, topic, [json.dumps(online | {"doors": {"<b>x</b>": "open"}})])
        eventually(lambda: ingest.counters.rejected == 4, "the odd statuses were never rejected")
    finally:
        ingest.stop()
    with sessions() as session:
        device = session.get_one(Device, "murat-door")
        assert (device.site, device.state, device.queue, device.version) == (
            "murat",
            "offline",
            3,
            "0.1.0",
        )
        assert device.last_seen == wire.parse_status(json.dumps(online)).ts
        assert device.readers == {"entrance": "ok"}
        assert device.access_version == 1_795_400_000_123
        assert device.doors == {"main": "closed"}
        reasons = session.scalars(select(RejectedEvent.reason).order_by(RejectedEvent.id)).all()
        assert "field 'access_version'" in reasons[-3]
        assert "field 'ts': 2999-01-01T00:00:00+00:00 is more than 300 s after" in reasons[-2]
        assert "field 'doors.<b>x</b>.[key]': String should match pattern" in reasons[-1]


# --- the hub as its own process ------------------------------------------------------------


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_hub_killed_mid_stream_loses_and_doubles_nothing(
    broker: Mosquitto,
    sessions: sessionmaker[Session],
    db_url: str,
    tmp_path: Path,
    hubs: list[HubProcess],
) -> None:
    hub = HubProcess(tmp_path / "hub", broker, db_url, "hub-1")
    hubs.append(hub)
    hub.start()
    events = [line(badge_event(seq)) for seq in range(4000)]
    command = ["mosquitto_pub", "-p", str(broker.port), "-t", MURAT_EVENTS]
    publisher = subprocess.Popen([*command, "-q", "1", "-l"], stdin=subprocess.PIPE)
    assert publisher.stdin is not None
    publisher.stdin.write(("\n".join(events) + "\n").encode())
    publisher.stdin.close()

    eventually(lambda: count(sessions, Event) > 0, "the hub stored nothing")
    hub.signal(signal.SIGKILL)
    assert publisher.wait(timeout=60) == 0

    hub.start()
    assert "session present: True" in hub.output()
    eventually(lambda: count(sessions, Event) == len(events), "not every event was stored")
    hub.signal(signal.SIGTERM)
    with sessions() as session:
        stored = set(session.scalars(select(Event.id)))
    assert stored == {json.loads(event)["id"] for event in events}
    assert count(sessions, RejectedEvent) == 0


@pytest.mark.postgres
def test_two_hubs_on_the_shared_subscription_store_every_event_once(
    broker: Mosquitto, postgres: Postgres, tmp_path: Path, hubs: list[HubProcess]
) -> None:
    db_url = postgres.create_database()
    migrate(db_url)
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    for name in ("hub-1", "hub-2"):
        hubs.append(HubProcess(tmp_path / name, broker, db_url, name))
        hubs[-1].start()
    events = [line(badge_event(seq)) for seq in range(2000)]
    # Each event twice in a row: the broker hands the copies to either hub (often one each),
    # which may store them at the same moment.
    publish(broker, MURAT_EVENTS, [e for event in events for e in (event, event)])

    eventually(lambda: count(sessions, Event) == len(events), "not every event was stored")
    for hub in hubs:
        hub.signal(signal.SIGTERM)
    counters = [hub.stopped_counters() for hub in hubs]
    assert sum(c["accepted"] for c in counters) == len(events)
    assert all(c["accepted"] + c["duplicates"] > 0 for c in counters), counters
    assert count(sessions, RejectedEvent) == 0
    engine.dispose()
    postgres.drop_database(db_url)
