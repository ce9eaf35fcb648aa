"""Access lists published by one worker thread, so that no one who commits waits for the
broker: a console request giving a card, an import, the hub's minute job. Publishing waits
for each list's acknowledgement (up to `PUBLISH_WAIT_S`), and a slow or paused broker once
held the committing thread that long for each site.

The worker publishes the lists in the order their transactions committed, one at a time.
What waits is bounded: one list per site, the newest (a newer list of a site takes the place
of the one still waiting, and a list older than one already handed over is dropped: a door
keeps only the newest, and the broker's retained copy is replaced by each). A list waiting
while the broker is away goes out when it is back; one still waiting when the hub stops is
not lost either: every start publishes every site's list again under a new version
(`Hub.start`, `Hub.daily`).

>>> publisher = AccessListPublisher(ingest.client, key)                # doctest: +SKIP
>>> publisher.start()
>>> with sessions.begin() as session:
...     result = import_members(session, text)
...     publish_access_lists(session, publisher, result.access_changed)
>>> publisher.stop()
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection
from datetime import datetime

import paho.mqtt.client as mqtt
from sqlalchemy.orm import Session

from hub.doors.access_lists import Holders, next_access_lists
from hub.store.db import after_commit
from hub.store.models import utcnow
from telecentre import wire
from telecentre.signing import SigningKey

log = logging.getLogger(__name__)

#: How long publishing one list waits for the broker's acknowledgement before the next.
PUBLISH_WAIT_S = 30.0


def publish_access_lists(
    session: Session,
    publisher: AccessListPublisher,
    sites: Collection[str] | None = None,
    *,
    now: datetime | None = None,
) -> list[wire.AccessList]:
    """New lists for the given sites (all when None), handed to `publisher` once the caller's
    transaction commits (signed, published retained, QoS 1, on `wire.access_topic(site)`).

    The hub calls it after an import whose `access_changed` is not empty, at start (a fresh
    version rather than guessing whether the broker still holds the last one), and daily.
    """
    lists = next_access_lists(session, sites, now=now or utcnow())
    if lists:
        after_commit(session, lambda: publisher.put(lists))
    return [access for access, _ in lists]


class AccessListPublisher:
    """`start()`, `put()` what committed, `stop()`: one thread publishing on `client`."""

    def __init__(self, client: mqtt.Client, key: SigningKey) -> None:
        self.client = client
        self.key = key
        self._lock = threading.Condition()
        self._waiting: dict[str, tuple[wire.AccessList, Holders]] = {}
        self._newest: dict[str, int] = {}  # the newest version handed over, per site
        self._busy = False  # a list taken from `_waiting` and not yet published
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="access lists", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """End the worker (a wait for the broker included); what still waits is dropped."""
        with self._lock:
            self._stopping.set()
            dropped = sorted(self._waiting)
            self._waiting.clear()
            self._lock.notify_all()
        if dropped:
            log.warning(
                "access lists of %d sites not published before the hub stopped (%s): its next "
                "start publishes every site's",
                len(dropped),
                ", ".join(dropped),
            )
        if self._thread is not None:
            self._thread.join(timeout)

    def idle(self) -> bool:
        """Whether every list handed over went out (or was refused): a benchmark's start."""
        with self._lock:
            return not self._waiting and not self._busy

    def put(self, lists: list[tuple[wire.AccessList, Holders]]) -> None:
        """Queue committed lists, in order; returns at once, whatever the broker does."""
        with self._lock:
            if self._stopping.is_set():
                log.warning(
                    "access lists of %d sites not published: the hub is stopping (its next "
                    "start publishes every site's)",
                    len(lists),
                )
                return
            for access, holders in lists:
                if access.version <= self._newest.get(access.site, -1):
                    # Two transactions whose after-commit actions ran in the other order.
                    log.info(
                        "access list %s v%d dropped: a newer one was handed over already",
                        access.site,
                        access.version,
                    )
                else:
                    self._newest[access.site] = access.version
                    older = self._waiting.get(access.site)
                    if older is not None:
                        log.info(
                            "access list %s v%d replaced by v%d before it was published",
                            access.site,
                            older[0].version,
                            access.version,
                        )
                    # A site already waiting keeps its place in the line.
                    self._waiting[access.site] = (access, holders)
            self._lock.notify()

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._waiting and not self._stopping.is_set():
                    self._lock.wait()
                if self._stopping.is_set():
                    return
                site = next(iter(self._waiting))
                access, holders = self._waiting.pop(site)
                self._busy = True
            try:
                self._publish(access, holders)
            except Exception:
                log.exception("access list %s v%d not published", access.site, access.version)
            finally:
                with self._lock:
                    self._busy = False

    def _publish(self, access: wire.AccessList, holders: Holders) -> None:
        # Signed here, one at a time: a few MB each at a national network's size.
        payload = self.key.sign_access_list(access, badges_json=holders.canonical)
        if len(payload) > wire.MAX_ACCESS_LIST_BYTES:
            # The broker would cut the hub's connection over a packet this big
            # (`max_packet_size`) and paho would send it again at every reconnection: the
            # ingest would stop with it.
            log.error(
                "access list %s v%d NOT published: %d bytes, over the %d-byte limit of the "
                "protocol (too many badges); the doors keep the list they have",
                access.site,
                access.version,
                len(payload),
                wire.MAX_ACCESS_LIST_BYTES,
            )
            return
        topic = wire.access_topic(access.site)
        info = self.client.publish(topic, payload, qos=wire.QOS_ACCESS, retain=True)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            # paho keeps a QoS 1 message and sends it once connected again.
            log.warning(
                "access list %s v%d queued while the broker is unreachable (%s)",
                access.site,
                access.version,
                mqtt.error_string(info.rc),
            )
            return
        # One list at a time while the broker is there: paho holds every list it has not yet
        # sent, and a network's lists (1,000 of a few MB) would otherwise all sit in memory.
        deadline = time.monotonic() + PUBLISH_WAIT_S
        while (
            not info.is_published()
            and self.client.is_connected()
            and not self._stopping.is_set()
            and time.monotonic() < deadline
        ):
            info.wait_for_publish(timeout=0.5)
        log.info(
            "access list %s v%d published: %d badges, %d bytes",
            access.site,
            access.version,
            len(access.badges),
            len(payload),
        )
