"""The agent's link to the broker: drains the outbox, publishes the status, takes in access
lists and commands.

A tap never waits on this link: taps write to the outbox, and the drain thread here sends
what the outbox holds, in `seq` order, with at most `mqtt.inflight` events awaiting the
broker's acknowledgement (its PUBACK frees a place in that window, nothing more).

An event leaves the outbox only when the hub's retained acknowledgement (`wire.Ack` on
`wire.ack_topic`) covers its seq: the broker acknowledges before it has saved anything, and a
broker crash would otherwise lose what it held. What the broker acknowledged and the hub has
not after `mqtt.hub_ack_timeout_s` is sent again from the oldest unacknowledged event, and so
is everything unacknowledged after a reconnection (the hub drops the duplicates by event id);
the wait doubles, up to an hour, while no acknowledgement comes (a hub away for the night).
With `mqtt.end_to_end: false` (a hub that sends no acknowledgements), events leave on the
broker's PUBACK instead. After a restart of the agent, the drain starts again from the oldest
event still stored.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.config import QUEUED_PER_INFLIGHT
from edge.config import Mqtt as MqttConfig
from edge.outbox import Outbox
from telecentre import wire
from telecentre.mqtt import authenticate

log = logging.getLogger(__name__)

#: Acknowledged events are removed from the outbox this many at a time, or this often.
REMOVE_BATCH = 500
REMOVE_EVERY_S = 0.2
#: A publish the broker refused is tried again this much later (the event stays stored).
REFUSED_RETRY_S = 30.0
#: After the outbox failed (SQLite error), the drain tries again this much later.
DRAIN_RETRY_S = 1.0
#: The longest wait for the hub's acknowledgement before sending again (the wait doubles).
HUB_ACK_WAIT_MAX_S = 3600.0


class Uplink:
    """One MQTT connection for one device.

    `status()` builds the device's status payload; `on_access_list(payload)` and
    `on_command(payload, retained)` receive what the hub sends (on paho's network thread).
    """

    def __init__(
        self,
        config: MqttConfig,
        site: str,
        device: str,
        outbox: Outbox,
        status: Callable[[Literal["online", "offline"]], wire.Status],
        on_access_list: Callable[[bytes], None],
        on_command: Callable[[bytes, bool], None],
        status_interval_s: float = 60,
        sendable_below: Callable[[float], int] | None = None,
    ) -> None:
        self.config, self.site, self.device, self.outbox = config, site, device, outbox
        self._status = status
        self._on_access_list = on_access_list
        self._on_command = on_command
        self.status_interval_s = status_interval_s
        # Given how long the broker has been reachable, the seq the drain must stop before
        # (events waiting for the clock, edge/clock_hold.py); None: send everything.
        self._sendable_below = sendable_below
        self.connected = threading.Event()
        self._connected_at = 0.0
        self._stopping = threading.Event()
        self._wake = threading.Event()
        # Only the drain thread touches `_in_flight`; paho's network thread just appends the
        # acknowledged message ids to `_acks` (deque appends are atomic). Taking a lock in
        # paho's callback would deadlock with publish(), which holds paho's own lock.
        self._in_flight: dict[int, int] = {}  # paho mid -> outbox seq
        self._acks: deque[int] = deque()
        self._refusals: deque[tuple[int, str]] = deque()  # (paho mid, the broker's reason)
        self._resend_from: int | None = None  # the oldest refused seq, sent again later
        self._resend_at = 0.0
        self._acked: list[int] = []  # outbox seqs acknowledged, not yet removed from disk
        # End to end: paho's thread appends the hub's acknowledged seqs, the drain applies them.
        self._hub_acks: deque[int] = deque()
        self._hub_mark = outbox.floor() - 1  # every seq up to it has left the outbox for good
        self._broker_top = 0  # the highest seq the broker acknowledged
        self._hub_wait = config.hub_ack_timeout_s
        self._hub_deadline: float | None = None  # send again then, if the hub is still silent
        self._reconnected = False
        self._removed_at = 0.0
        self._last_sent = 0
        self._client = self._make_client()
        self._drain = threading.Thread(target=self._drain_forever, name="outbox-drain", daemon=True)
        self._heartbeat = threading.Thread(target=self._beat_forever, name="status", daemon=True)

    def _make_client(self) -> mqtt.Client:
        # MQTT 5: a broker that refuses a publish (its ACL) says so in the PUBACK, where 3.1.1
        # acknowledges it all the same, and the event would leave the outbox, lost.
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=self.device, protocol=mqtt.MQTTv5
        )
        client.enable_logger(logging.getLogger("paho"))
        # Should any other callback raise, paho logs it and carries on (see _access_list).
        client.suppress_exceptions = True
        client.max_inflight_messages_set(self.config.inflight)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        authenticate(
            client,
            self.config.username,
            self.config.password,
            self.config.password_file,
            self.config.tls,
        )
        client.will_set(
            wire.status_topic(self.site, self.device),
            wire.encode(self._status("offline")),
            qos=wire.QOS_STATUS,
            retain=True,
        )
        client.on_connect = self._connected
        client.on_disconnect = self._disconnected
        client.on_publish = self._published
        client.message_callback_add(wire.access_topic(self.site), self._access_list)
        client.message_callback_add(wire.command_topic(self.site, self.device), self._command)
        client.message_callback_add(wire.ack_topic(self.site, self.device), self._hub_ack)
        return client

    # --- life cycle ------------------------------------------------------------------------

    def start(self) -> None:
        # connect_async + loop_start: the agent starts, and serves taps, with the broker away.
        self._client.connect_async(
            self.config.host,
            self.config.port,
            self.config.keepalive_s,
            clean_start=True,  # an unlock queued while offline must not fire hours later
        )
        self._client.loop_start()
        self._drain.start()
        self._heartbeat.start()

    def stop(self) -> None:
        """Say goodbye (retained offline status), flush acknowledgements, disconnect."""
        self._stopping.set()
        self._wake.set()
        if self.connected.is_set():
            info = self._client.publish(
                wire.status_topic(self.site, self.device),
                wire.encode(self._status("offline")),
                qos=wire.QOS_STATUS,
                retain=True,
            )
            info.wait_for_publish(timeout=2)
        self._drain.join(timeout=5)
        # paho's network thread logs an ERROR ("Client is not connected") on its last pass
        # after a disconnect we asked for: nothing is wrong, so it is not said at stop.
        self._client.disable_logger()
        self._client.disconnect()
        self._client.loop_stop()

    # --- paho callbacks (network thread) ---------------------------------------------------

    def _connected(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.error(
                "broker %s:%s refused the connection: %s",
                self.config.host,
                self.config.port,
                reason,
            )
            return
        log.info("connected to broker %s:%s", self.config.host, self.config.port)
        topics = [
            (wire.access_topic(self.site), wire.QOS_ACCESS),
            (wire.command_topic(self.site, self.device), wire.QOS_COMMAND),
        ]
        if self.config.end_to_end:
            topics.append((wire.ack_topic(self.site, self.device), wire.QOS_ACK))
        client.subscribe(topics)
        # What the broker held for the hub may be gone (a broker restart): the drain sends
        # everything the hub has not acknowledged again.
        self._reconnected = self.config.end_to_end
        self._connected_at = time.monotonic()
        self.connected.set()
        self.publish_status()
        self._wake.set()

    def _disconnected(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if self._stopping.is_set():
            log.info("disconnected from the broker")
        elif self.connected.is_set():
            log.warning("lost the broker (%s); events wait in the outbox", reason)
        self.connected.clear()

    def _published(self, _c: mqtt.Client, _u: Any, mid: int, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self._refusals.append((mid, str(reason)))
            self._wake.set()
            return
        self._acks.append(mid)
        # Wake the drain once a window's worth is acknowledged (or all of it), not per ack.
        if len(self._acks) >= min(self.config.inflight, len(self._in_flight)):
            self._wake.set()

    # An exception out of a callback would end paho's network thread for good (the agent would
    # look alive, with no link): what the hub sends must never get that far.

    def _access_list(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        try:
            self._on_access_list(bytes(message.payload))
        except Exception:
            log.exception("access list from the hub not handled; the one in force stays")

    def _command(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        try:
            # `retain` is set on what the broker held before this subscription: never a
            # command of the hub's, which it does not retain (edge/commands.py).
            self._on_command(bytes(message.payload), bool(message.retain))
        except Exception:
            log.exception("command from the hub not handled")

    def _hub_ack(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        try:
            ack = wire.parse_ack(bytes(message.payload))
        except wire.ProtocolError as exc:
            log.warning("acknowledgement from the hub ignored: %s", exc)
            return
        if (ack.site, ack.device) != (self.site, self.device):
            log.warning("acknowledgement for %s/%s ignored", ack.site, ack.device)
            return
        self._hub_acks.append(ack.seq)
        self._wake.set()

    # --- outbox drain ----------------------------------------------------------------------

    def notify(self) -> None:
        """New events are in the outbox."""
        self._wake.set()

    def _drain_forever(self) -> None:
        failing = False
        while not self._stopping.is_set():
            self._wake.wait(timeout=REMOVE_EVERY_S)
            self._wake.clear()
            try:
                self._collect_acks()
                self._collect_hub_acks()
                self._send_again_if_unacknowledged()
                if self.connected.is_set():
                    self._send_more()
                self._remove_acked()
            except Exception:
                # An SQLite error (SD card full or gone read-only...) must not end sending
                # until the next restart: the events wait in the outbox, the drain tries again.
                if not failing:
                    log.exception("outbox drain failed; trying again every %s s", DRAIN_RETRY_S)
                failing = True
                self._stopping.wait(DRAIN_RETRY_S)
                continue
            if failing:
                log.info("outbox drain working again")
                failing = False
        try:
            self._collect_acks()
            self._remove_acked(force=True)
        except Exception:
            log.exception("acknowledged events not removed from the outbox: sent again next time")

    def _collect_acks(self) -> None:
        """Free the window for acknowledged events (status messages' ids are ignored). An
        event the broker refused stays in the outbox and is sent again a while later: a
        misconfigured ACL costs a delay, never the event."""
        while self._acks:
            seq = self._in_flight.pop(self._acks.popleft(), None)
            if seq is None:
                continue
            if not self.config.end_to_end:
                self._acked.append(seq)
                continue
            self._broker_top = max(self._broker_top, seq)
            if self._hub_deadline is None and seq > self._hub_mark:
                self._hub_deadline = time.monotonic() + self._hub_wait
        while self._refusals:
            mid, reason = self._refusals.popleft()
            seq = self._in_flight.pop(mid, None)
            if seq is None:
                continue
            if self._resend_from is None:
                log.error(
                    "the broker refused event seq %d (%s): kept in the outbox, sent "
                    "again in %.0f s; check this device's broker account and ACL",
                    seq,
                    reason,
                    REFUSED_RETRY_S,
                )
                self._resend_at = time.monotonic() + REFUSED_RETRY_S
            self._resend_from = min(seq, self._resend_from or seq)
        if self._resend_from is not None and time.monotonic() >= self._resend_at:
            self._last_sent = min(self._last_sent, self._resend_from - 1)
            self._resend_from = None

    def _collect_hub_acks(self) -> None:
        """Forget the events the hub holds (retained Acks arrive again at each connection)."""
        if not self._hub_acks:
            return
        seq = max(self._hub_acks.popleft() for _ in range(len(self._hub_acks)))
        if seq <= self._hub_mark:
            return
        if seq > self.outbox.last_seq():
            # Marks of another outbox (a device id reused with a new SD card): trusting it
            # would drop events the hub never had.
            log.error(
                "the hub acknowledges seq %d, beyond this outbox's last (%d): ignored; "
                "a replaced device needs a new device id",
                seq,
                self.outbox.last_seq(),
            )
            return
        self.outbox.acknowledge(seq)
        self._hub_mark = seq
        self._hub_wait = self.config.hub_ack_timeout_s
        waiting = self._broker_top > seq
        self._hub_deadline = time.monotonic() + self._hub_wait if waiting else None

    def _send_again_if_unacknowledged(self) -> None:
        """Rewind the drain to the oldest event the hub has not acknowledged, after a
        reconnection or once the hub has been silent too long about what the broker took."""
        if self._reconnected:
            self._reconnected = False
            self._last_sent = min(self._last_sent, self._hub_mark)
            return
        if self._hub_deadline is None or time.monotonic() < self._hub_deadline:
            return
        log.warning(
            "no acknowledgement from the hub for %.0f s: sending again from seq %d",
            self._hub_wait,
            self._hub_mark + 1,
        )
        self._last_sent = min(self._last_sent, self._hub_mark)
        self._hub_deadline = None
        self._broker_top = self._hub_mark
        self._hub_wait = min(self._hub_wait * 2, HUB_ACK_WAIT_MAX_S)

    def _send_more(self) -> None:
        """Hand paho a few windows' worth at a time: paho sends the next one from its own queue
        as each acknowledgement arrives, and this thread wakes once per window, not per ack."""
        room = self.config.inflight * QUEUED_PER_INFLIGHT - len(self._in_flight)
        if room < self.config.inflight and self._in_flight:
            return
        below = None
        if self._sendable_below is not None and self.outbox.depth() > 0:  # idle: no queries
            # Asked before reading the events: the ones it rebases are read rebased.
            below = self._sendable_below(time.monotonic() - self._connected_at)
        topic = wire.events_topic(self.site, self.device)
        for seq, payload in self.outbox.pending(self._last_sent, room):
            if below is not None and seq >= below:
                break
            info = self._client.publish(topic, payload, qos=wire.QOS_EVENTS)
            self._in_flight[info.mid] = seq
            self._last_sent = seq

    def _remove_acked(self, force: bool = False) -> None:
        """Delete acknowledged events from the outbox in batches (one transaction each)."""
        now = time.monotonic()
        if self._acked and (
            force or len(self._acked) >= REMOVE_BATCH or now - self._removed_at >= REMOVE_EVERY_S
        ):
            self.outbox.remove(self._acked)
            self._acked = []
            self._removed_at = now

    # --- status ------------------------------------------------------------------------------

    def publish_status(self) -> None:
        self._client.publish(
            wire.status_topic(self.site, self.device),
            wire.encode(self._status("online")),
            qos=wire.QOS_STATUS,
            retain=True,
        )

    def publish_command_result(self, result: wire.CommandResult) -> None:
        """What became of a command, for the hub (QoS 1, not retained). Not queued in the
        outbox: an answer that arrives much later would tell the animator nothing true."""
        self._client.publish(
            wire.command_result_topic(self.site, self.device),
            wire.encode(result),
            qos=wire.QOS_COMMAND,
        )

    def _beat_forever(self) -> None:
        while not self._stopping.wait(self.status_interval_s):
            if self.connected.is_set():
                self.publish_status()
