"""The hub's door commands (hub/doors/commands.py) on a real broker: what leaves is signed,
fresh and for that door only, as the edge's gate (edge/commands.py) admits; a door name that
is not an id, stored before statuses were checked, is no door to open (never a 500)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy.orm import Session, sessionmaker

from edge.commands import CommandGate, CommandRefused
from hub.doors.commands import DoorOpener, doors_of, open_door
from hub.people.imports import import_sites
from hub.people.users import Invalid
from hub.store.models import Device
from telecentre import wire
from tests.keys import HUB_KEY, TRUSTED
from tests.servers import Mosquitto
from tests.waiting import wait_until

SITE, DEVICE = "murat", "murat-door"


@pytest.fixture
def arrived(broker: Mosquitto) -> Iterator[list[tuple[bytes, bool]]]:
    """What arrives on the door's command topic: (payload, retained)."""
    arrived: list[tuple[bytes, bool]] = []
    subscribed = threading.Event()
    door = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="door", protocol=mqtt.MQTTv5)
    door.on_subscribe = lambda *_: subscribed.set()
    door.on_message = lambda _c, _u, m: arrived.append((bytes(m.payload), bool(m.retain)))
    door.on_connect = lambda c, *_: c.subscribe(wire.command_topic(SITE, DEVICE), qos=1)
    door.connect("127.0.0.1", broker.port)
    door.loop_start()
    wait_until(subscribed.is_set, timeout=15)
    yield arrived
    door.disconnect()
    door.loop_stop()


def test_the_hub_sends_a_signed_fresh_command_for_that_door_only(
    broker: Mosquitto,
    sessions: sessionmaker[Session],
    arrived: list[tuple[bytes, bool]],
) -> None:
    gate = CommandGate(TRUSTED, SITE, DEVICE)  # the door, started before the command
    hub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="hub")
    hub.connect("127.0.0.1", broker.port)
    hub.loop_start()
    try:
        opener = DoorOpener(hub, HUB_KEY, sessions)
        with sessions.begin() as session:
            import_sites(session, "sites: [{id: murat, name: Murat}]\n")
            session.add(
                Device(
                    id=DEVICE,
                    site=SITE,
                    state="online",
                    doors={"main": "closed", "<b>x</b>": "open"},
                )
            )
        with sessions.begin() as session:
            assert [ref.door for ref in doors_of(session, SITE)] == ["main"]
            with pytest.raises(Invalid):
                open_door(
                    session, opener, site=SITE, device=DEVICE, door="<b>x</b>",
                    reason="livreur", actor="user:lea",
                )  # fmt: skip
        with sessions.begin() as session:
            command = open_door(
                session, opener, site=SITE, device=DEVICE, door="main", reason="livreur",
                actor="user:lea",
            )  # fmt: skip
            command_id = command.id
        wait_until(lambda: len(arrived) == 1, timeout=15)
    finally:
        hub.disconnect()
        hub.loop_stop()
    payload, retained = arrived[0]
    assert not retained
    now = datetime.now(UTC)
    admitted = gate.admit(payload, retained=False, now=now, clock_synced=True)
    assert (admitted.id, admitted.door, admitted.valid_s) == (command_id, "main", 30)
    with pytest.raises(CommandRefused, match="a replay"):
        gate.admit(payload, retained=False, now=now, clock_synced=True)
    later = CommandGate(TRUSTED, SITE, DEVICE)  # as if started before it, a minute on
    with pytest.raises(CommandRefused, match="expired"):
        later.admit(payload, retained=False, now=now + timedelta(minutes=1), clock_synced=True)
    with pytest.raises(CommandRefused, match="it is for murat/murat-door"):
        CommandGate(TRUSTED, SITE, "murat-back").admit(
            payload, retained=False, now=now, clock_synced=True
        )
