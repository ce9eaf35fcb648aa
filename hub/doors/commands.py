"""Opening a door from the console for a visitor, and what the device answered.

The command goes out only to a device that is online: a command queued for an offline door
would open it whenever the device came back, maybe hours later with nobody there. It is
signed with the access lists' key and valid for `wire.COMMAND_VALIDITY_S` from its issue: the
door obeys nothing else, once (edge/commands.py). It is
stored (and audited) in the transaction that asks for it and published once that commits;
the device answers a `wire.CommandResult` on its `cmd-result` topic, which the hub reads on
its ingest connection and stores against the command.

>>> opener = DoorOpener(ingest.client, signing_key, sessions, changes)  # doctest: +SKIP
>>> ingest.extra_subscriptions.append((RESULTS, wire.QOS_COMMAND))
>>> opener.listen()                                                     # the results
>>> with sessions.begin() as session:
...     command = open_door(session, opener, site="murat", device="murat-door",
...                         door="main", reason="livreur", actor="user:marie")
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.intake.live import Changes
from hub.people import audit
from hub.people.users import N_, Invalid
from hub.store.db import after_commit
from hub.store.models import Device, DoorCommand, utcnow
from telecentre import wire
from telecentre.signing import SigningKey

log = logging.getLogger(__name__)
_ID_RE = re.compile(wire.ID_PATTERN)

#: Every device's command results, on the hub's connection.
RESULTS = wire.command_result_topic("+", "+")
#: How long the door stays unlocked for a visitor.
UNLOCK_S = 5.0
MAX_REASON = 500
#: A command not answered within this is shown as unanswered (the device may be offline).
ANSWER_WITHIN_S = 10.0


@dataclass(frozen=True)
class DoorRef:
    """A door a person can open from the console: which device drives it, whether it is up."""

    site: str
    device: str
    door: str
    online: bool


def doors_of(session: Session, site: str) -> list[DoorRef]:
    """The site's doors as their devices report them (a device that reports no door sensor
    has the one door `main`, the edge's default)."""
    found = []
    for device in session.scalars(select(Device).where(Device.site == site).order_by(Device.id)):
        # A name that is not an id (stored before statuses were checked) is no door to open.
        doors = [door for door in device.doors if _ID_RE.fullmatch(door)]
        for door in sorted(doors) or ["main"]:
            found.append(DoorRef(site, device.id, door, device.state == "online"))
    return found


class DoorOpener:
    def __init__(
        self,
        client: mqtt.Client,
        key: SigningKey,
        sessions: sessionmaker[Session],
        changes: Changes | None = None,
        connected: Callable[[], bool] = lambda: True,
    ) -> None:
        self.client = client
        self.key = key
        self.connected = connected
        self.sessions = sessions
        self.changes = changes

    def listen(self) -> None:
        """Read command results on `client` (subscribing to `RESULTS` is the caller's)."""
        self.client.message_callback_add(RESULTS, self._result)

    def send(self, command_id: str, site: str, device: str, door: str, seconds: float) -> None:
        """Issue the unlock now, sign it and publish it, not retained: the edge obeys it
        only if it is fresh, new and signed (docs/protocol.md, Command)."""
        command = wire.unlock_command(
            command_id=command_id,
            site=site,
            device=device,
            door=door,
            seconds=seconds,
            issued=utcnow(),
        )
        info = self.client.publish(
            wire.command_topic(site, device), self.key.sign_command(command), qos=wire.QOS_COMMAND
        )
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            log.warning(
                "unlock %s for %s not sent: %s", command_id, device, mqtt.error_string(info.rc)
            )

    def _result(self, client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        try:
            result = wire.parse_command_result(bytes(message.payload))
            if message.topic != wire.command_result_topic(result.site, result.device):
                raise wire.ProtocolError(f"result of {result.device} arrived on {message.topic}")
        except wire.ProtocolError as exc:
            log.warning("command result ignored: %s", exc)
        else:
            try:
                with self.sessions.begin() as session:
                    record_result(session, result)
            except Exception:
                log.exception("command result %s not stored", result.id)
                return  # not acknowledged: the broker sends it again
            if self.changes is not None:
                self.changes.publish({result.site})
        if message.qos > 0:
            client.ack(message.mid, message.qos)


def open_door(
    session: Session,
    opener: DoorOpener | None,
    *,
    site: str,
    device: str,
    door: str,
    reason: str,
    actor: str,
    seconds: float = UNLOCK_S,
) -> DoorCommand:
    """Store, audit, and (once committed) send an unlock through `opener`.

    Refused (`Invalid`) without a reason or for a door the site does not have. A device that
    is offline (or a hub without its broker connection: `opener` None or disconnected) gets
    no command: the attempt is stored and audited as refused, with `error` "offline".
    """
    reason = reason.strip()
    if not reason:
        raise Invalid("reason", N_("say why the door is opened (a visitor, a delivery…)"))
    if len(reason) > MAX_REASON:
        raise Invalid("reason", N_("at most %(count)d characters"), count=MAX_REASON)
    ref = next((d for d in doors_of(session, site) if (d.device, d.door) == (device, door)), None)
    if ref is None:
        raise Invalid("door", N_("this site has no such door"))
    online = ref.online and opener is not None and opener.connected()
    command = DoorCommand(
        id=str(uuid.uuid4()),
        site_id=site,
        device=device,
        door=door,
        reason=reason,
        requested_by=actor,
        requested_at=utcnow(),
    )
    if not online:
        command.ok = False
        command.error = "offline"
    session.add(command)
    session.flush()
    audit.record(
        session,
        actor,
        "door_opened" if online else "door_open_refused_offline",
        site=site,
        device=device,
        door=door,
        reason=reason,
        command=command.id,
    )
    if online and opener is not None:
        command_id = command.id
        # Issued (and signed) once committed: the validity counts from when it leaves.
        after_commit(session, lambda: opener.send(command_id, site, device, door, seconds))
    return command


def record_result(session: Session, result: wire.CommandResult) -> DoorCommand | None:
    """Store a device's answer on its command; a result for a command the hub never sent
    (or another device's) is ignored."""
    command = session.get(DoorCommand, result.id)
    if command is None or (command.site_id, command.device) != (result.site, result.device):
        log.warning("result for unknown command %s from %s ignored", result.id, result.device)
        return None
    if command.answered_at is None:
        command.answered_at = result.ts
        command.ok = result.ok
        command.error = result.error
    return command


def command(session: Session, command_id: str) -> DoorCommand | None:
    return session.get(DoorCommand, command_id)
