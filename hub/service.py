"""The running hub: one process wiring ingest, the presence engine, occupancy, access lists,
time series and the HTTP API around one database and one MQTT connection.

Each part is its own module; this one only decides who calls whom, and when:
- every MQTT batch: store events → presence sessions → occupancy (published after commit)
  → door alarms → the console's live board (after commit) → time series counts → the
  devices' acknowledgements (after commit, `hub/intake/acks.py`);
- every status: its device's acknowledgement again, the console's board told (after commit);
- every door command result: stored against its command, the board told;
- every minute: close sessions past their auto-close moment, refresh occupancy, publish the
  acknowledgements not yet published, warn of doors deciding from an older access list than
  their site's latest;
- at start, then every day: retention, fresh access lists;
- access lists, once committed: published by their own thread, one at a time, each waiting
  for the broker's acknowledgement (`hub.doors.publisher`);
- every minute, in a thread of its own: the PDFs of closed months' invoices not made yet;
- every minute, in a thread of its own: the months whose sessions changed summed up again
  for the reports (`hub.reports.months`);
- after a sites or members import (API or CLI): the affected sites' access lists;
- every `mail.poll_s`, and at once after a batch with an alarm, in the mail thread: alerts
  raised or reminded, e-mails sent.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Collection

from sqlalchemy.orm import Session

from hub.alerts.incidents import AlertScanner, wake_on_alarms
from hub.config import HubConfig
from hub.console.member_space import stop_member_space
from hub.doors.access_lists import changed_since, last_audit_id, record_import
from hub.doors.alarms import record_alarms
from hub.doors.commands import RESULTS as DOOR_RESULTS
from hub.doors.commands import DoorOpener
from hub.doors.publisher import AccessListPublisher, publish_access_lists
from hub.intake.acks import Acks
from hub.intake.ingest import Ingest, tune_gc
from hub.intake.live import Changes
from hub.intake.occupancy import OccupancyPublisher
from hub.intake.timeseries import TimeSeries, count_events
from hub.mail.worker import MailWorker
from hub.people import member_access
from hub.people.imports import import_sites
from hub.presence.engine import Presence
from hub.presence.retention import apply_retention
from hub.reports.invoice_files import make_missing
from hub.reports.months import refresh as refresh_report_months
from hub.reports.queries import devices
from hub.store import make_engine, make_sessionmaker, migrate
from hub.store.db import after_commit
from hub.store.events import NewEvent
from hub.store.models import utcnow
from hub.web.app import create_app
from hub.web.body_limits import LARGEST_BODY_BYTES
from hub.web.secret_key import load_secret_key
from hub.web.server import WebServer
from telecentre import wire
from telecentre.signing import SigningKey

log = logging.getLogger(__name__)

MINUTE_S = 60.0
DAY_S = 24 * 3600.0


class Hub:
    """`start()` then `stop()`; `url` is where the API answers once started."""

    def __init__(self, config: HubConfig) -> None:
        self.config = config
        self.signing_key = SigningKey.load_or_create(config.signing_key_path)
        log.info(
            "access lists signed with hub key %s (public key %s, from %s)",
            self.signing_key.key_id,
            self.signing_key.public_text,
            config.signing_key_path,
        )
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
        # SQLite serves one hub process, whose Acks leave in order over its one connection;
        # processes sharing PostgreSQL each wait for the broker before the next may publish.
        self.acks = Acks(
            self.ingest.client,
            self.sessions,
            wait_for_broker=self.engine.dialect.name != "sqlite",
        )
        self.changes = Changes()
        self.access_lists = AccessListPublisher(self.ingest.client, self.signing_key)
        self.mail = MailWorker(
            self.sessions,
            config.mail,
            jobs=[AlertScanner(self.sessions, config.alerts, config.console.public_url)],
        )
        hooks = [
            self.presence.apply,
            self.occupancy.on_batch,
            record_alarms,
            wake_on_alarms(self.mail.wake),
            self.changes.on_batch,
            self._count_events,
            self.acks.on_batch,
        ]
        self.ingest.on_batch[:] = hooks
        self.ingest.on_statuses[:] = [self.acks.on_statuses, self._statuses_changed]
        self.doors = DoorOpener(
            self.ingest.client,
            self.signing_key,
            self.sessions,
            self.changes,
            connected=self.ingest.subscribed.is_set,
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
        self._behind: set[str] = set()  # devices last seen deciding from an old list
        self._server: WebServer | None = None
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        assert self._server is not None, "the hub is not started"
        return self._server.url

    def start(self) -> None:
        if self.config.sites_file is not None:
            self._load_sites_file()
        with self.sessions.begin() as session:
            self._imports_seen = last_audit_id(session)  # `daily()` below sends every list
        tune_gc()  # what is loaded by now lives as long as the hub: out of the collector's way
        self.acks.start()
        self.access_lists.start()
        self.ingest.start()
        self.mail.start()
        self.daily()  # retention and fresh access lists now, then every day
        self._server = WebServer(self.app, self.config.http, max_body_bytes=LARGEST_BODY_BYTES)
        self._every(MINUTE_S, self.tick, "minute")
        self._every(DAY_S, self.daily, "daily")
        self._every(MINUTE_S, self.make_invoice_pdfs, "invoices")
        self._every(MINUTE_S, self.sum_up_months, "report months")
        for thread in self._threads:
            thread.start()
        self._server.start()
        log.info("hub started: API on %s, database %s", self.url, self.engine.url)

    def stop(self) -> None:
        self._stopping.set()
        self.changes.close()  # open boards end their streams and reconnect to the next hub
        if self._server is not None:
            self._server.stop()
        stop_member_space(self.app)  # the links asked before the server stopped are written
        self.access_lists.stop()  # what waits goes out at the next start, in fresh lists
        self.ingest.stop(before_disconnect=self.acks.stop)
        self.mail.stop()
        self.timeseries.close()
        self.engine.dispose()
        gc.unfreeze()  # a process that starts hubs one after the other can collect this one
        counters = self.ingest.counters
        log.info(
            "hub stopped: accepted=%d duplicates=%d rejected=%d statuses=%d "
            "wrong_sender=%d oversize=%d",
            counters.accepted,
            counters.duplicates,
            counters.rejected,
            counters.statuses,
            counters.wrong_sender,
            counters.oversize,
        )

    # --- what runs when ----------------------------------------------------------------------

    def sites_changed(self, sites: Collection[str]) -> None:
        """After an import through the API: taps sent before a site existed become sessions,
        and the sites' edges get fresh access lists."""
        with self.sessions.begin() as session:
            self.presence.replay_sites(session, sites)
        self._publish_imported(also=sites)

    def publish_access_lists(self, sites: Collection[str] | None) -> None:
        """Fresh lists for `sites` (None: all), handed once committed to the publisher, which
        waits for the broker in its own thread (this returns at once)."""
        with self.sessions.begin() as session:
            publish_access_lists(session, self.access_lists, sites)

    def tick(self) -> None:
        with self.sessions.begin() as session:
            closed = self.presence.close_expired(session)
            self.occupancy.refresh(session)
            self.changes.after_commit(session, closed)
        self._publish_imported()
        self.acks.tick()  # imports made from a shell, which has no broker connection
        self.check_access_lists()

    def check_access_lists(self) -> set[str]:
        """Warn, once per device, of a door that decides from an older list than its site's
        latest (a revoked badge may still open it), and say when it caught up; the devices
        behind now (also `health` in `/api/v1/devices`)."""
        with self.sessions() as session:
            rows = devices(session)
        behind = {row.device: row for row in rows if row.health == "access_list_behind"}
        for name in sorted(behind.keys() - self._behind):
            row = behind[name]
            log.warning(
                "door %s of site %s decides from access list %s, behind its site's latest "
                "(%s): check its link to the broker and its log (a refused list says why)",
                row.device,
                row.site,
                row.access_version if row.access_version is not None else "none",
                row.latest_access_version,
            )
        for name in sorted(self._behind - behind.keys()):
            log.info("door %s decides from its site's latest access list again", name)
        self._behind = set(behind)
        return self._behind

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
                quarantine_days=retention.quarantine_days,
                debounce_s=self.config.rules.debounce_s,
            )
            member_access.forget_spent(session)
        self.publish_access_lists(None)  # Pass expiries and public holidays move daily

    def make_invoice_pdfs(self) -> None:
        """Closed months' invoices made as PDFs in the background, most of a minute's work
        at a time, so that a month's zip is ready when someone asks for it."""
        make_missing(self.sessions, until=time.monotonic() + 50, stopping=self._stopping.is_set)

    def sum_up_months(self) -> None:
        """The months whose sessions changed, summed up again for the reports, most of a
        minute's work at a time (after an upgrade, a large network's years take a few)."""
        refresh_report_months(self.sessions.begin, until=time.monotonic() + 50)

    def _statuses_changed(self, session: Session, statuses: list[wire.Status]) -> None:
        """The console's boards show device health: their sites changed."""
        self.changes.after_commit(session, {status.site for status in statuses})

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
            record_import(
                session,
                f"hub:sites_file {self.config.sites_file}",
                "sites",
                result.access_changed,
                created=result.created,
                updated=result.updated,
            )
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
