"""The live occupancy of each site, for the screen at its entrance (PROTOCOL.md, Occupancy).

Counts are taken inside the transaction that changed them and published only once it has
committed (`hub.store.db.after_commit`): a display never shows a presence that a rolled-back
batch made. A count equal to the last one published for the site is not sent again.

>>> board = OccupancyPublisher(ingest.client, max_session_h=12)        # doctest: +SKIP
>>> ingest.on_batch[:] = [presence.apply, board.on_batch]              # presence first
>>> with sessions.begin() as session:                                  # every minute
...     presence.close_expired(session)
...     board.refresh(session)                                         # doctest: +SKIP
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection
from datetime import datetime
from functools import partial

import paho.mqtt.client as mqtt
from sqlalchemy.orm import Session

from hub.people.sites import load_sites
from hub.presence.engine import Clock, moved_sites, occupancies, tapped_sites
from hub.rules.presence import DEFAULT_MAX_SESSION_H
from hub.store.db import after_commit
from hub.store.events import NewEvent
from hub.store.models import utcnow
from telecentre import wire

log = logging.getLogger(__name__)

#: `(site, present, positions, at)`.
OnChange = Callable[[str, int, int, datetime], None]


class OccupancyPublisher:
    """Publishes `wire.Occupancy` retained (QoS 0) on `wire.occupancy_topic(site)`.

    `client` is any connected paho client: the ingest's own connection will do.
    `on_change(site, present, positions, at)` is told each committed change as well, for
    what keeps a history of the counts (the time series).
    """

    def __init__(
        self,
        client: mqtt.Client,
        *,
        max_session_h: float = DEFAULT_MAX_SESSION_H,
        clock: Clock = utcnow,
        on_change: OnChange | None = None,
    ) -> None:
        self.client = client
        self.max_session_h = max_session_h
        self.clock = clock
        self.on_change = on_change
        self._published: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def on_batch(self, session: Session, new: list[NewEvent]) -> None:
        """An `OnBatch` hook, placed after the presence engine's: the sites with new counted
        taps, and those the member left for another one, are the only ones whose occupancy
        the batch may have changed."""
        sites = tapped_sites(new) | moved_sites(session)
        if sites:
            self.refresh(session, sites)

    def refresh(self, session: Session, sites: Collection[str] | None = None) -> None:
        """Count the given sites (all when None) now; publish the changed counts after the
        session's transaction commits.

        Called every minute on all sites, it also sends what auto-closes changed and repairs
        a count lost while the broker was unreachable (only a sent count is remembered).
        """
        now = self.clock()
        rules = load_sites(session, sites)
        counts = occupancies(session, rules.values(), now, max_session_h=self.max_session_h)
        for site in rules.values():
            present = len(counts[site.id])
            payload = wire.Occupancy(
                v=wire.VERSION,
                site=site.id,
                ts=now.astimezone(site.zone),
                present=present,
                positions=site.positions.total,
            )
            with self._lock:
                unchanged = self._published.get(site.id) == (present, payload.positions)
            if not unchanged:
                after_commit(session, partial(self._publish, payload))

    def _publish(self, payload: wire.Occupancy) -> None:
        if self.on_change is not None:
            self.on_change(payload.site, payload.present, payload.positions, payload.ts)
        info = self.client.publish(
            wire.occupancy_topic(payload.site),
            wire.encode(payload),
            qos=wire.QOS_OCCUPANCY,
            retain=True,
        )
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            log.warning(
                "occupancy of %s not sent (%s): sent again at the next refresh",
                payload.site,
                mqtt.error_string(info.rc),
            )
            return
        with self._lock:
            self._published[payload.site] = (payload.present, payload.positions)
