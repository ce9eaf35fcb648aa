"""Telling each device, after commit, how far the hub holds its events (`wire.Ack`).

The device keeps every event in its outbox until an Ack covers it, and sends the rest again:
so an event the broker acknowledged and then lost (a `kill -9` before its autosave) is not
lost. Acks are retained, one topic per device (`wire.ack_topic`), and published:
- after each committed batch (MQTT or an import through the API), for its devices;
- after each status a device publishes (at every connection and every minute): a retained Ack
  the broker lost in a crash comes back, and a status's `outbox_floor` may move the mark;
- every minute for any mark not published yet (an import made from a shell, a broker away).

The hooks only note which devices are due, after commit; a thread of its own works out their
marks and publishes them, several batches at once when it falls behind, so the ingest never
waits on it. A mark only goes up, and so does what the broker retains: the marks are worked
out under their rows' lock (`hub.store.marks`), and with `wait_for_broker` (a database that
several hub processes may share) the lock is held until the broker has confirmed the Acks, so
of two processes the later one publishes the higher mark, after the earlier. One process's
Acks leave in order over its one connection. (Should a publication time out, paho may still
deliver it later, after a higher one: the device keeps the highest Ack it has seen, and the
next Ack repairs what the broker retains.)

>>> acks = Acks(ingest.client, sessions)                 # doctest: +SKIP
>>> ingest.on_batch.append(acks.on_batch); ingest.on_statuses.append(acks.on_statuses)
>>> acks.start(); …; acks.stop()
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from functools import partial

import paho.mqtt.client as mqtt
from sqlalchemy.orm import Session, sessionmaker

from hub.store.db import after_commit
from hub.store.events import NewEvent
from hub.store.marks import Mark, advance_marks, record_published
from telecentre import wire

log = logging.getLogger(__name__)

#: How long the broker may take to confirm a round of Acks before they are left for later.
PUBLISH_TIMEOUT_S = 5.0


class Acks:
    """The hub's end-to-end acknowledgements, published on `client` (the ingest's connection)."""

    def __init__(
        self,
        client: mqtt.Client,
        sessions: sessionmaker[Session],
        *,
        wait_for_broker: bool = True,
        publish_timeout_s: float = PUBLISH_TIMEOUT_S,
    ) -> None:
        self.client = client
        self.sessions = sessions
        self.wait_for_broker = wait_for_broker
        self.publish_timeout_s = publish_timeout_s
        # What is due, filled by the hooks after commit and taken whole by the thread.
        self._due_lock = threading.Lock()
        self._devices: dict[str, str] = {}
        self._floors: dict[str, int] = {}
        self._again: set[str] = set()
        self._everything = False
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="acks", daemon=True)
        # The thread and a direct `publish` (tests, the command line) take turns.
        self._lock = threading.Lock()

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10) -> None:
        """Publish what is due, then end the thread (what is left goes at the next start,
        when the retained statuses come back)."""
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout)

    # --- hooks: note what is due once the transaction commits ---------------------------------

    def on_batch(self, session: Session, new: list[NewEvent]) -> None:
        """An `OnBatch` hook: the batch's devices are due once it is committed."""
        devices = {item.event.device: item.event.site for item in new}
        if devices:
            after_commit(session, partial(self._due, devices))

    def on_statuses(self, session: Session, statuses: list[wire.Status]) -> None:
        """Statuses just recorded: their devices get their Ack again (the broker may have lost
        it), moved past their `outbox_floor`, once committed."""
        devices = {status.device: status.site for status in statuses}
        floors = {s.device: s.outbox_floor for s in statuses if s.outbox_floor is not None}
        after_commit(session, partial(self._due, devices, floors, again=True))

    def tick(self) -> None:
        """Every device is due: marks an import moved with no broker at hand, Acks the broker
        did not confirm."""
        with self._due_lock:
            self._everything = True
        self._wake.set()

    def _due(
        self,
        devices: Mapping[str, str],
        floors: Mapping[str, int] | None = None,
        again: bool = False,
    ) -> None:
        with self._due_lock:
            self._devices.update(devices)
            for device, floor in (floors or {}).items():
                self._floors[device] = max(floor, self._floors.get(device, 0))
            if again:
                self._again.update(devices)
        self._wake.set()

    # --- the thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            with self._due_lock:
                devices = None if self._everything else self._devices
                floors, again = self._floors, self._again
                self._devices, self._floors, self._again = {}, {}, set()
                self._everything = False
            if devices is None or devices:
                try:
                    self.publish(devices, floors, again)
                except Exception:
                    log.exception("acknowledgements not published: sent again next minute")
            if self._stopping.is_set():
                return

    def publish(
        self,
        devices: Mapping[str, str] | None,
        floors: Mapping[str, int] | None = None,
        again: Collection[str] = (),
    ) -> None:
        """Move the marks of `devices` (None: all) and publish those that moved, and those of
        `again` whatever they are."""
        with self._lock, self.sessions.begin() as session:
            marks = advance_marks(session, devices, floors)
            due = [m for m in marks if m.seq > 0 and (m.seq > m.published or m.device in again)]
            if not due:
                return
            if not self.client.is_connected():
                log.info("broker away: %d acknowledgements wait for the next minute", len(due))
                return
            sent = [(mark, self._send(mark)) for mark in due]
            record_published(session, [mark for mark, info in sent if self._confirmed(mark, info)])

    def _send(self, mark: Mark) -> mqtt.MQTTMessageInfo:
        ack = wire.Ack(
            v=wire.VERSION, site=mark.site, device=mark.device, seq=mark.seq, ts=datetime.now(UTC)
        )
        return self.client.publish(
            wire.ack_topic(mark.site, mark.device), wire.encode(ack), qos=wire.QOS_ACK, retain=True
        )

    def _confirmed(self, mark: Mark, info: mqtt.MQTTMessageInfo) -> bool:
        """Whether the Ack is as good as published: confirmed by the broker with
        `wait_for_broker`, or else handed to paho on a live connection (which sends it again
        after a reconnection)."""
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            log.warning("ack of %s not sent (%s)", mark.device, mqtt.error_string(info.rc))
            return False
        if not self.wait_for_broker:
            return True
        try:
            info.wait_for_publish(self.publish_timeout_s)
        except (RuntimeError, ValueError) as exc:
            log.warning("ack of %s not sent (%s): sent again later", mark.device, exc)
            return False
        if not info.is_published():
            log.warning("ack of %s not confirmed by the broker: sent again later", mark.device)
        return info.is_published()
