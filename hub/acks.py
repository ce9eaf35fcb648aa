"""Telling each device, after commit, how far the hub holds its events (`wire.Ack`).

The device keeps every event in its outbox until an Ack covers it, and sends the rest again:
so an event the broker acknowledged and then lost (a `kill -9` before its autosave) is not
lost. Acks are retained, one topic per device (`wire.ack_topic`), and published:
- after each committed batch (MQTT or an import through the API), for its devices;
- after each status a device publishes (at every connection and every minute): a retained Ack
  the broker lost in a crash comes back, and a status's `outbox_floor` may move the mark;
- every minute for any mark not published yet (an import made from a shell, a broker away).

A mark only goes up, and so does what the broker retains: the marks are worked out under their
rows' lock (`hub.store.marks`) and the lock is held until the broker has acknowledged the
publication, so of two hub processes the second one to publish a device's Ack publishes the
higher mark, after the first. (If a publication times out, paho may still deliver it later,
after a higher one: the device keeps the highest Ack it has seen, and the next Ack repairs
what the broker retains.)

>>> acks = Acks(ingest.client, sessions)                 # doctest: +SKIP
>>> ingest.on_batch.append(acks.on_batch); ingest.on_statuses.append(acks.on_statuses)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import partial

import paho.mqtt.client as mqtt
from sqlalchemy.orm import Session, sessionmaker

from hub.store.db import after_commit
from hub.store.events import NewEvent
from hub.store.marks import advance_marks
from hub.store.models import DeviceMark
from telecentre import wire

log = logging.getLogger(__name__)

#: How long the broker may take to confirm a batch's Acks before they are left for later.
PUBLISH_TIMEOUT_S = 5.0


class Acks:
    """The hub's end-to-end acknowledgements, published on `client` (the ingest's connection)."""

    def __init__(
        self,
        client: mqtt.Client,
        sessions: sessionmaker[Session],
        publish_timeout_s: float = PUBLISH_TIMEOUT_S,
    ) -> None:
        self.client = client
        self.sessions = sessions
        self.publish_timeout_s = publish_timeout_s
        # SQLite does not lock rows: one hub process's threads (ingest, imports, the minute
        # job) take turns here, which `advance_marks`'s row locks do across processes.
        self._lock = threading.Lock()

    def on_batch(self, session: Session, new: list[NewEvent]) -> None:
        """An `OnBatch` hook: the batch's devices are acknowledged once it is committed."""
        devices = {item.event.device: item.event.site for item in new}
        if devices:
            after_commit(session, partial(self.publish, devices))

    def on_statuses(self, session: Session, statuses: list[wire.Status]) -> None:
        """Statuses just recorded: their devices get their Ack again (the broker may have lost
        it), moved past their `outbox_floor`, once committed."""
        devices = {status.device: status.site for status in statuses}
        floors = {s.device: s.outbox_floor for s in statuses if s.outbox_floor is not None}
        if devices:
            after_commit(session, partial(self.publish, devices, floors, True))

    def tick(self) -> None:
        """Every device: marks an import moved with no broker at hand, Acks not confirmed."""
        self.publish(None)

    def publish(
        self,
        devices: Mapping[str, str] | None,
        floors: Mapping[str, int] | None = None,
        again: bool = False,
    ) -> None:
        """Move the marks of `devices` (None: all) and publish those that moved (`again`: all
        of them), waiting for the broker to confirm before the rows are unlocked."""
        with self._lock, self.sessions.begin() as session:
            marks = advance_marks(session, devices, floors)
            due = [
                mark
                for mark in marks
                if mark.committed_seq > 0 and (again or mark.committed_seq > mark.published_seq)
            ]
            if not due:
                return
            if not self.client.is_connected():
                log.info("broker away: %d acknowledgements wait for the next minute", len(due))
                return
            sent = [(mark, self._send(mark)) for mark in due]
            for mark, info in sent:
                try:
                    info.wait_for_publish(self.publish_timeout_s)
                except (RuntimeError, ValueError) as exc:
                    log.warning("ack of %s not sent (%s): sent again later", mark.id, exc)
                    continue
                if info.is_published():
                    mark.published_seq = mark.committed_seq
                else:
                    log.warning("ack of %s not confirmed by the broker: sent again", mark.id)

    def _send(self, mark: DeviceMark) -> mqtt.MQTTMessageInfo:
        ack = wire.Ack(
            v=wire.VERSION,
            site=mark.site,
            device=mark.id,
            seq=mark.committed_seq,
            ts=datetime.now(UTC),
        )
        return self.client.publish(
            wire.ack_topic(mark.site, mark.id), wire.encode(ack), qos=wire.QOS_ACK, retain=True
        )
