"""Events and device statuses from MQTT into the store, without losing or doubling any.

The broker keeps what the hub has not acknowledged: the hub acknowledges a message only once
the batch holding it is committed, so a hub killed at any moment gets its unacknowledged
messages again at reconnection (persistent session), and the store drops the ones it already
has. Paho's network thread only queues messages; one writer thread takes whatever is queued
(at most `batch_size`), stores it in one transaction with the hooks, commits, then
acknowledges. It never waits for a batch to fill up: a lone tap is committed at once, and
under load what arrived while one batch was stored makes the next one, so batches grow
with the load by themselves.

Both threads share the GIL, so the hand-over between them is paid in bulk rather than per
message: paho's callback appends to a deque and wakes the writer only when it waits, and the writer
takes the whole queue at once.

>>> ingest = Ingest.from_config(config, sessions)        # doctest: +SKIP
>>> ingest.on_batch.append(presence.apply)                # called inside each transaction
>>> ingest.start(); …; ingest.stop()

It runs inside the hub service (`hub/service.py`), with the presence and occupancy hooks.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import NamedTuple

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy import insert
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from hub.config import HubConfig, Mqtt
from hub.store.devices import check_status_time, record_status
from hub.store.events import (
    REJECTED_PAYLOAD_CHARS,
    Holding,
    Incoming,
    NewEvent,
    OnBatch,
    StoreResult,
    rejection,
    store_events,
    write_held,
)
from hub.store.models import RejectedEvent, utcnow
from telecentre import wire
from telecentre.mqtt import authenticate

log = logging.getLogger(__name__)

#: How long the writer waits before retrying a batch the database refused.
RETRY_S = 2.0

#: How long an idle writer waits for a first message before looking at `stop()` again.
IDLE_S = 0.1


#: Allocations between two young-generation collections (CPython's default: 700).
GC_YOUNG_THRESHOLD = 10_000


def tune_gc() -> None:
    """Make the garbage collector cheap for a process that ingests; call it once started.

    Every batch allocates tens of thousands of short-lived containers (parsed events, rows,
    sessions), which at CPython's default threshold set off a young collection every few
    hundred objects, in the writer and in paho's thread alike: about 15 ms per 500-message
    batch in the benchmark. `gc.freeze()` moves what is there after start (modules,
    SQLAlchemy's mappings, configuration) out of the collections' way, and the higher
    threshold makes them about 15 times rarer (measured: 3 ms per batch), for a young
    generation of at most ten thousand objects. The process-wide setting is for the whole
    hub process, whose work is mostly ingest.
    """
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


def _transient(error: Exception) -> bool:
    """The database is away or busy (worth waiting for), as opposed to refusing this data."""
    return isinstance(error, OperationalError | InterfaceError) or bool(
        getattr(error, "connection_invalidated", False)
    )


@dataclass(frozen=True)
class Counters:
    accepted: int = 0
    duplicates: int = 0
    #: Every message refused, the two kinds below included.
    rejected: int = 0
    statuses: int = 0
    #: Events and statuses naming another device or site than their topic (`WrongSender`).
    wrong_sender: int = 0
    #: Payloads over `wire.MAX_PAYLOAD_BYTES`, refused unread.
    oversize: int = 0


class _Message(NamedTuple):
    """One message as paho delivered it (a tuple: built in paho's thread for every message,
    where a frozen dataclass's `__init__` costs several times more)."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    #: Which connection delivered it: an acknowledgement is only meaningful on that one.
    connection: int
    received_at: datetime
    #: The payload's size if it was over the limit (then `payload` is only its beginning).
    oversize: int = 0


#: Called inside a batch's transaction with the statuses it recorded (their arrival order).
OnStatuses = Callable[[Session, list[wire.Status]], None]


class _Statuses(NamedTuple):
    recorded: list[wire.Status]
    rejected: int
    wrong_sender: int


def _oversize_rejections(messages: list[_Message]) -> list[dict[str, object]]:
    return [
        rejection(
            Incoming(m.payload, m.topic, m.received_at),
            f"payload of {m.oversize} bytes is over the {wire.MAX_PAYLOAD_BYTES}-byte limit: "
            "refused unread",
        )
        for m in messages
    ]


def _record_statuses(session: Session, statuses: list[_Message]) -> _Statuses:
    """Apply statuses in arrival order per device (sorted by device so that two hub
    processes lock device rows in the same order); those recorded, and how many were
    rejected."""
    recorded = []
    rejected = []
    wrong_sender = 0
    for message in sorted(statuses, key=lambda m: m.topic):
        try:
            status = wire.parse_status(message.payload)
            if message.topic != wire.status_topic(status.site, status.device):
                raise wire.WrongSender(
                    f"status of {status.site}/{status.device} arrived on {message.topic!r}"
                )
            check_status_time(status, message.received_at)
        except wire.ProtocolError as exc:
            if isinstance(exc, wire.WrongSender):
                wrong_sender += 1
                log.warning("status refused: %s", exc)
            incoming = Incoming(message.payload, message.topic, message.received_at)
            rejected.append(rejection(incoming, str(exc)))
            continue
        record_status(session, status, message.received_at)
        recorded.append(status)
    if rejected:
        session.execute(insert(RejectedEvent), rejected)
    return _Statuses(recorded, len(rejected), wrong_sender)


def _client(settings: Mqtt) -> mqtt.Client:
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=settings.client_id,
        clean_session=False,
        protocol=mqtt.MQTTv311,
    )
    client.manual_ack_set(True)
    authenticate(client, settings.username, settings.password, settings.password_file, settings.tls)
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    return client


class Ingest:
    """The hub's MQTT consumer: `start()`, then `stop()` to flush what was received."""

    def __init__(
        self,
        mqtt_settings: Mqtt,
        sessions: sessionmaker[Session],
        *,
        batch_size: int = 500,
        on_batch: Sequence[OnBatch] = (),
        on_statuses: Sequence[OnStatuses] = (),
    ) -> None:
        self.on_batch: list[OnBatch] = list(on_batch)
        self.on_statuses: list[OnStatuses] = list(on_statuses)
        #: More `(topic filter, qos)` to subscribe to at each connection, for what other parts
        #: of the hub read on this connection with `client.message_callback_add` (door
        #: command results): those messages never reach the batches.
        self.extra_subscriptions: list[tuple[str, int]] = []
        #: Set once the broker has confirmed the subscriptions (and again after reconnecting).
        self.subscribed = threading.Event()
        self._settings = mqtt_settings
        self._sessions = sessions
        self._batch_size = batch_size
        #: Appended by paho's thread, emptied by the writer (deque appends and pops are
        #: atomic); `_arrived` wakes the writer when it waits for a first message.
        self._received: deque[_Message] = deque()
        self._arrived = threading.Event()
        self._counters = Counters()
        self._connection = 0
        self._stopping = threading.Event()
        self._writer = threading.Thread(target=self._write, name="ingest-writer", daemon=True)
        self._client = _client(mqtt_settings)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message

    @classmethod
    def from_config(
        cls, config: HubConfig, sessions: sessionmaker[Session], on_batch: Sequence[OnBatch] = ()
    ) -> Ingest:
        return cls(
            config.mqtt,
            sessions,
            batch_size=config.ingest.batch_size,
            on_batch=on_batch,
        )

    @property
    def counters(self) -> Counters:
        return self._counters

    @property
    def client(self) -> mqtt.Client:
        """The connection to the broker, which the hub also publishes occupancy and access
        lists on (paho's `publish` may be called from any thread)."""
        return self._client

    def start(self) -> None:
        self._writer.start()
        self._client.connect_async(
            self._settings.host, self._settings.port, keepalive=self._settings.keepalive_s
        )
        self._client.loop_start()

    def stop(
        self, timeout: float = 30, before_disconnect: Callable[[], None] | None = None
    ) -> None:
        """Store and acknowledge what was received, then disconnect; the broker keeps the rest.
        `before_disconnect` runs once the last batch is committed (the hub's last Acks)."""
        self._stopping.set()
        self._arrived.set()  # an idle writer need not wait for its timeout
        self._writer.join(timeout)
        if before_disconnect is not None:
            before_disconnect()
        self._client.disconnect()
        self._client.loop_stop()

    # --- paho's network thread: queue and return -----------------------------------------

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: object,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        _properties: object,
    ) -> None:
        if reason.is_failure:
            log.error("the broker refused the connection: %s", reason)
            return
        self._connection += 1
        log.info("connected (session present: %s)", flags.session_present)
        client.subscribe(
            [
                (wire.HUB_EVENTS_SUBSCRIPTION, wire.QOS_EVENTS),
                (wire.ALL_STATUSES, wire.QOS_STATUS),
                *self.extra_subscriptions,
            ]
        )

    def _on_subscribe(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _mid: int,
        reasons: list[ReasonCode],
        _properties: object,
    ) -> None:
        if any(reason.is_failure for reason in reasons):
            log.error("the broker refused a subscription: %s", reasons)
            return
        log.info("subscribed to %s and %s", wire.HUB_EVENTS_SUBSCRIPTION, wire.ALL_STATUSES)
        self.subscribed.set()

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        _properties: object,
    ) -> None:
        self.subscribed.clear()
        if not self._stopping.is_set():
            log.warning("disconnected from the broker (%s); reconnecting", reason)

    def _on_message(self, _client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        received = self._received
        size = len(msg.payload)
        if size > wire.MAX_PAYLOAD_BYTES:
            # Refused before parsing, and only its beginning kept (for `rejected_events`): a
            # device sending big payloads must not make the hub hold them batch after batch.
            head = bytes(msg.payload[:REJECTED_PAYLOAD_CHARS])
            received.append(
                _Message(msg.topic, head, msg.mid, msg.qos, self._connection, utcnow(), size)
            )
        else:
            received.append(
                _Message(
                    msg.topic, bytes(msg.payload), msg.mid, msg.qos, self._connection, utcnow()
                )
            )
        # Set once per wait of the writer, not for every message: waking it for each would
        # hand the GIL back and forth as often.
        if not self._arrived.is_set():
            self._arrived.set()

    # --- the writer thread -----------------------------------------------------------------

    def _write(self) -> None:
        while True:
            batch = self._next_batch()
            if not batch:
                if self._stopping.is_set():
                    return
                continue
            if self._commit(batch):
                self._acknowledge(batch)

    def _next_batch(self) -> list[_Message]:
        """What is queued, up to `batch_size` messages, as soon as there is one; empty if none
        came within `IDLE_S` (or the ingest is stopping)."""
        if not self._wait_for_one(IDLE_S):
            return []
        received = self._received
        return [received.popleft() for _ in range(min(len(received), self._batch_size))]

    def _wait_for_one(self, timeout: float) -> bool:
        """Wait until a message is queued, at most `timeout` seconds (less if the ingest is
        stopping); whether one is.

        `_arrived` is cleared before the deque is looked at, so a message appended after that
        look sets it, and one appended before is seen: no wake-up is lost, whatever paho's
        thread does in between.
        """
        received = self._received
        if received:
            return True
        deadline = time.monotonic() + timeout
        while True:
            self._arrived.clear()
            if received:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._stopping.is_set():
                return False
            self._arrived.wait(remaining)

    def _commit(self, batch: list[_Message]) -> bool:
        """Store `batch` in one transaction, retrying while the database is unreachable; False
        if the hub stops first (the broker will deliver the batch again).

        A batch that fails for its content (a value the database cannot hold, a rule that
        raises) is stored again one message at a time, and the message that fails alone goes
        to the rejected events with the error: one bad message must not stall the ingest of
        the whole network, batch after batch, restart after restart.
        """
        while True:
            try:
                self._store(batch)
                return True
            except Exception as exc:
                if not _transient(exc):
                    log.warning(
                        "a batch of %d messages failed (%s): storing them one by one",
                        len(batch),
                        exc,
                    )
                    return self._commit_one_by_one(batch)
                log.exception("could not store a batch of %d messages", len(batch))
                if self._stopping.wait(RETRY_S):
                    return False

    def _commit_one_by_one(self, batch: list[_Message]) -> bool:
        for message in batch:
            while True:
                try:
                    self._store([message])
                    break
                except Exception as exc:
                    if not _transient(exc) and self._quarantine(message, exc):
                        break
                    log.exception("could not store a message from %s", message.topic)
                    if self._stopping.wait(RETRY_S):
                        return False
        return True

    def _store(self, batch: list[_Message]) -> None:
        oversize = [m for m in batch if m.oversize]
        readable = [m for m in batch if not m.oversize]
        events = [m for m in readable if not wire.is_status_topic(m.topic)]
        statuses = [m for m in readable if wire.is_status_topic(m.topic) and m.payload]
        with self._sessions.begin() as session:
            result = store_events(
                session, [Incoming(m.payload, m.topic, m.received_at) for m in events], hold=True
            )
            bad = _record_statuses(session, statuses)
            if oversize:
                session.execute(insert(RejectedEvent), _oversize_rejections(oversize))
            for hook in self.on_batch:
                hook(session, result.new)
            write_held(session)  # with the outcomes the presence engine gave them
            if bad.recorded:
                for status_hook in self.on_statuses:
                    status_hook(session, bad.recorded)
        for message in oversize:
            log.warning(
                "message on %s refused unread: %d bytes, over the %d-byte limit",
                message.topic,
                message.oversize,
                wire.MAX_PAYLOAD_BYTES,
            )
        if result.wrong_sender:
            log.warning(
                "%d events refused: they name another device or site than their topic",
                result.wrong_sender,
            )
        self._count(result, len(bad.recorded), bad, len(oversize))

    def _quarantine(self, message: _Message, error: Exception) -> bool:
        """Keep a message that cannot be stored among the rejected events; False if even
        that failed (the database is in trouble: the caller waits and tries again)."""
        reason = f"could not be stored: {type(error).__name__}: {error}"[:1000]
        incoming = Incoming(message.payload, message.topic, message.received_at)
        try:
            with self._sessions.begin() as session:
                session.execute(insert(RejectedEvent), [rejection(incoming, reason)])
        except Exception:
            return False
        log.error("message on %s rejected: %s", message.topic, reason)
        self._count(StoreResult(), 0, _Statuses([], 1, 0))
        return True

    def _count(self, result: StoreResult, statuses: int, bad: _Statuses, oversize: int = 0) -> None:
        counters = self._counters
        self._counters = replace(
            counters,
            accepted=counters.accepted + len(result.new),
            duplicates=counters.duplicates + result.duplicates,
            rejected=counters.rejected + len(result.rejected) + bad.rejected + oversize,
            statuses=counters.statuses + statuses,
            wrong_sender=counters.wrong_sender + result.wrong_sender + bad.wrong_sender,
            oversize=counters.oversize + oversize,
        )

    def _acknowledge(self, batch: list[_Message]) -> None:
        for message in batch:
            if message.qos > 0 and message.connection == self._connection:
                self._client.ack(message.mid, message.qos)


# --- JSON Lines (FORMATS.md "Events"): the same path as MQTT, without the broker ------------


@dataclass(frozen=True)
class LineError:
    line: int
    error: str


@dataclass
class LinesResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[LineError] = field(default_factory=list)


#: New events an import gives the hooks at once: the presence engine then replays each
#: member once for all of them (a year of a member in one pass), not once per batch.
PLAN_EVERY = 50_000


def ingest_lines(
    session: Session,
    lines: Iterable[str | bytes],
    on_batch: Sequence[OnBatch] = (),
    batch_size: int = 500,
    plan_every: int = PLAN_EVERY,
) -> LinesResult:
    """Store a JSON Lines file of events in the caller's transaction (the caller commits),
    `batch_size` lines per statement, and call the hooks with the new events every
    `plan_every` of them and at the end; blank lines are skipped, and line numbers count
    from 1."""
    result = LinesResult()
    # Every line of a file (or of a request's body) arrived at once.
    received_at = utcnow()
    chunk: list[tuple[int, Incoming]] = []
    pending: list[NewEvent] = []
    # Nothing here gives or takes back a card: each badge's holdings are read once a file.
    holdings: dict[str, list[Holding]] = {}

    def plan() -> None:
        if pending:
            for hook in on_batch:
                hook(session, pending)
        write_held(session)  # with the outcomes the presence engine gave them
        pending.clear()

    def flush() -> None:
        batch = [incoming for _, incoming in chunk]
        stored = store_events(session, batch, hold=True, holdings=holdings)
        pending.extend(stored.new)
        result.accepted += len(stored.new)
        result.duplicates += stored.duplicates
        result.rejected.extend(
            LineError(chunk[index][0], error) for index, error in stored.rejected
        )
        chunk.clear()
        if len(pending) >= plan_every:
            plan()

    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        chunk.append((number, Incoming(line, None, received_at)))
        if len(chunk) >= batch_size:
            flush()
    if chunk:
        flush()
    plan()
    return result
