"""The running hub: one process wiring ingest, the presence engine, occupancy, access lists,
time series and the HTTP API around one database and one MQTT connection.

Each part is its own module; this one only decides who calls whom, and when:
- every MQTT batch: store events → presence sessions → occupancy (published after commit)
  → door alarms → the console's live board (after commit) → time series counts;
- every door command result: stored against its command, the board told;
- every minute: close sessions past their auto-close moment, refresh occupancy;
- at start, then every day: retention, fresh access lists;
- after a sites or members import (API or CLI): the affected sites' access lists.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Collection

from sqlalchemy.orm import Session
from werkzeug.serving import BaseWSGIServer, make_server

from hub.access_lists import changed_since, last_audit_id, publish_access_lists
from hub.alarms import record_alarms
from hub.app import create_app
from hub.config import HubConfig
from hub.doors import RESULTS as DOOR_RESULTS
from hub.doors import DoorOpener
from hub.imports import import_sites
from hub.ingest import Ingest, tune_gc
from hub.live import Changes
from hub.occupancy import OccupancyPublisher
from hub.presence import Presence
from hub.retention import apply_retention
from hub.secret_key import load_secret_key
from hub.store import make_engine, make_sessionmaker, migrate
from hub.store.db import after_commit
from hub.store.events import NewEvent
from hub.store.models import utcnow
from hub.timeseries import TimeSeries, count_events
from telecentre import wire

log = logging.getLogger(__name__)

MINUTE_S = 60.0
DAY_S = 24 * 3600.0


class Hub:
    """`start()` then `stop()`; `url` is where the API answers once started."""

    def __init__(self, config: HubConfig) -> None:
        self.config = config
        migrate(config.database_url)
        self.engine = make_engine(config.database_url)
        self.sessions = make_sessionmaker(self.engine)
        self.presence = Presence.from_config(config)
        self.timeseries = TimeSeries.from_config(config.influxdb)
        self.ingest = Ingest.from_config(config, self.sessions)
        self.occupancy = OccupancyPublisher(
            self.ingest.client,
            max_session_h=config.rules.max_session_h,
            on_change=self.timeseries.occupancy,
        )
        self.changes = Changes()
        hooks = [
            self.presence.apply,
            self.occupancy.on_batch,
            record_alarms,
            self.changes.on_batch,
            self._count_events,
        ]
        self.ingest.on_batch[:] = hooks
        self.ingest.on_statuses.append(self.changes.after_commit)
        self.doors = DoorOpener(
            self.ingest.client, self.sessions, self.changes, connected=self.ingest.subscribed.is_set
        )
        self.doors.listen()
        self.ingest.extra_subscriptions.append((DOOR_RESULTS, wire.QOS_COMMAND))
        self.app = create_app(
            config,
            sessionmaker=self.sessions,
            mqtt_up=self.ingest.subscribed.is_set,
            presence_hooks=hooks,
            after_import=self.sites_changed,
            changes=self.changes,
            doors=self.doors,
            secret_key=load_secret_key(config.secret_key_path),
            publish_access_lists=self.publish_access_lists,
        )
        self._stopping = threading.Event()
        self._imports_seen = 0  # the last audited import whose access lists went out
        self._imports_lock = threading.Lock()
        self._server: BaseWSGIServer | None = None
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        assert self._server is not None, "the hub is not started"
        return f"http://{self._server.host}:{self._server.port}"

    def start(self) -> None:
        with self.sessions.begin() as session:
            self._imports_seen = last_audit_id(session)  # `daily()` below sends every list
        if self.config.sites_file is not None:
            self._load_sites_file()
        tune_gc()  # what is loaded by now lives as long as the hub: out of the collector's way
        self.ingest.start()
        self.daily()  # retention and fresh access lists now, then every day
        self._server = make_server(
            self.config.http.host, self.config.http.port, self.app, threaded=True
        )
        self._every(MINUTE_S, self.tick, "minute")
        self._every(DAY_S, self.daily, "daily")
        self._threads.append(
            threading.Thread(target=self._server.serve_forever, name="http", daemon=True)
        )
        for thread in self._threads:
            thread.start()
        log.info("hub started: API on %s, database %s", self.url, self.engine.url)

    def stop(self) -> None:
        self._stopping.set()
        self.changes.close()  # open boards end their streams and reconnect to the next hub
        if self._server is not None:
            self._server.shutdown()
        self.ingest.stop()
        self.timeseries.close()
        self.engine.dispose()
        gc.unfreeze()  # a process that starts hubs one after the other can collect this one
        counters = self.ingest.counters
        log.info(
            "hub stopped: accepted=%d duplicates=%d rejected=%d statuses=%d",
            counters.accepted,
            counters.duplicates,
            counters.rejected,
            counters.statuses,
        )

    # --- what runs when ----------------------------------------------------------------------

    def sites_changed(self, sites: Collection[str]) -> None:
        """After an import through the API: taps sent before a site existed become sessions,
        and the sites' edges get fresh access lists."""
        with self.sessions.begin() as session:
            self.presence.replay_sites(session, sites)
        self._publish_imported(also=sites)

    def publish_access_lists(self, sites: Collection[str] | None) -> None:
        """Fresh lists for `sites` (None: all), published once committed."""
        with self.sessions.begin() as session:
            publish_access_lists(session, self.ingest.client, sites)

    def tick(self) -> None:
        with self.sessions.begin() as session:
            closed = self.presence.close_expired(session)
            self.occupancy.refresh(session)
            self.changes.after_commit(session, closed)
        self._publish_imported()  # imports made from a shell, which has no broker connection

    def _publish_imported(self, also: Collection[str] = ()) -> None:
        """Access lists for the sites that audited imports changed since the last call."""
        with self._imports_lock, self.sessions.begin() as session:
            self._imports_seen, changed = changed_since(session, self._imports_seen)
        if changed or also:
            self.publish_access_lists(changed | set(also))

    def daily(self) -> None:
        retention = self.config.retention
        with self.sessions.begin() as session:
            apply_retention(
                session,
                utcnow(),
                events_retention_days=retention.events_retention_days,
                sessions_retention_years=retention.sessions_retention_years,
                debounce_s=self.config.rules.debounce_s,
            )
        self.publish_access_lists(None)  # Pass expiries and public holidays move daily

    def _count_events(self, session: Session, new: list[NewEvent]) -> None:
        # A quarantined tap applied by an admin was counted when it arrived.
        counts = count_events(item.event for item in new if not item.trusted)
        # After commit: a batch rolled back and retried must not be counted twice.
        after_commit(session, lambda: self.timeseries.events(counts, at=utcnow()))

    def _load_sites_file(self) -> None:
        assert self.config.sites_file is not None
        text = self.config.sites_file.read_text(encoding="utf-8")
        with self.sessions.begin() as session:
            result = import_sites(session, text)
            self.presence.replay_sites(session, result.access_changed)
        log.info(
            "sites file %s: %d created, %d updated",
            self.config.sites_file,
            result.created,
            result.updated,
        )

    def _every(self, seconds: float, job: object, name: str) -> None:
        assert callable(job)

        def loop() -> None:
            while not self._stopping.wait(seconds):
                try:
                    job()
                except Exception:
                    log.exception("%s job failed; it runs again next time", name)

        self._threads.append(threading.Thread(target=loop, name=name, daemon=True))
