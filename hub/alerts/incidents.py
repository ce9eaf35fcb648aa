"""What is wrong now, as incidents, and the e-mails they owe (`scan`, run by the mail thread).

Each scan reads the standing alarms (not acknowledged yet), the devices' last statuses and
their access lists, and compares them with the incidents open in the store
(`hub.rules.alerts.plan`): a new incident queues one e-mail per recipient, in the scan's
transaction (the queue and the incident commit together, or neither does); one told
`alerts.reminder_min` ago queues a "toujours en cours"; one whose condition is gone ends,
and queues one "retour à la normale" with its duration (once, even with two hub processes
scanning: only the scan that ends it tells it).

Ten alarms on one door in a minute are one incident: the e-mail is queued at the first, the
next nine join it (their count shows in the reminders and on the board).

>>> AlertScanner(sessions, config.alerts, config.console.public_url)(utcnow())  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from hub.alerts import messages
from hub.alerts.recipients import recipients
from hub.config import Alerts
from hub.mail import queue
from hub.people.names import place_names, site_label
from hub.reports.queries import devices
from hub.rules.alerts import Key, Standing, offline_since, plan, release_at
from hub.store.db import after_commit, insert_ignoring_conflicts
from hub.store.events import NewEvent, OnBatch
from hub.store.models import Alarm, AlertIncident, Event, Site
from telecentre import wire

log = logging.getLogger(__name__)

DEFAULT_ZONE = "Europe/Paris"


@dataclass(frozen=True)
class Condition:
    began_at: datetime
    alarms: int = 0


def conditions(session: Session, now: datetime, settings: Alerts) -> dict[Key, Condition]:
    """Everything wrong now, one entry per incident it makes. A door held open is wrong
    until it closes again, or its alarms are acknowledged: the alarm stands on the board
    for someone to see, but whoever was told it was open hears it no longer is."""
    found: dict[Key, Condition] = {}
    subject = func.coalesce(Alarm.door, Alarm.device)
    standing = session.execute(
        select(Alarm.site_id, Alarm.kind, subject, func.min(Alarm.at), func.max(Alarm.at))
        .add_columns(func.count())
        .where(Alarm.acknowledged_at.is_(None))
        .group_by(Alarm.site_id, Alarm.kind, subject)
    )
    for site_id, kind, about, began_at, latest, count in standing:
        if kind == "door_held_open" and closed_after(session, site_id, about, latest):
            continue
        found[Key(site_id, kind, about)] = Condition(began_at, count)
    limit = timedelta(minutes=settings.door_offline_min)
    for row in devices(session, now=now):
        since = offline_since(row.state, row.last_seen, now, limit)
        if since is not None:
            found[Key(row.site, "door_offline", row.device)] = Condition(since)
        # An offline door is behind by nature: its offline alert says all there is to do.
        if row.health == "access_list_behind" and row.state != "offline":
            found[Key(row.site, "access_list_behind", row.device)] = Condition(now)
    return found


def closed_after(session: Session, site: str, door: str, moment: datetime) -> bool:
    """Whether the door reported itself closed after `moment`."""
    closed = session.scalar(
        select(Event.id)
        .where(Event.site == site, Event.ts > moment, Event.type == "door")
        .where(Event.door == door, Event.state == "closed")
        .limit(1)
    )
    return closed is not None


def _last_alarm(session: Session, key: Key) -> datetime | None:
    return session.scalar(
        select(func.max(Alarm.at)).where(
            Alarm.site_id == key.site,
            Alarm.kind == key.kind,
            func.coalesce(Alarm.door, Alarm.device) == key.subject,
        )
    )


def wake_on_alarms(wake: Callable[[], None]) -> OnBatch:
    """An ingest hook: a batch with an alarm wakes the mail thread once committed, so the
    e-mail leaves at once rather than at its next poll."""

    def hook(session: Session, new: list[NewEvent]) -> None:
        if any(isinstance(item.event, wire.AlarmEvent) for item in new):
            after_commit(session, wake)

    return hook


class AlertScanner:
    """A job of the mail thread (`MailWorker(jobs=[AlertScanner(...)])`)."""

    def __init__(
        self, sessions: sessionmaker[Session], settings: Alerts, public_url: str | None
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.board_url = public_url.rstrip("/") + "/" if public_url else None

    def __call__(self, now: datetime) -> None:
        with self.sessions.begin() as session:
            self.scan(session, now)

    def scan(self, session: Session, now: datetime) -> None:
        wrong = conditions(session, now, self.settings)
        open_rows = {
            Key(row.site_id, row.kind, row.subject): row
            for row in session.scalars(
                select(AlertIncident).where(AlertIncident.resolved_at.is_(None))
            )
        }
        todo = plan(
            {key: condition.began_at for key, condition in wrong.items()},
            {key: Standing(row.id, row.notified_at) for key, row in open_rows.items()},
            now=now,
            remind_every=timedelta(minutes=self.settings.reminder_min),
        )
        by_id = {row.id: (key, row) for key, row in open_rows.items()}
        for key in todo.opened:
            self._open(session, key, wrong[key], now)
        for incident_id in todo.reminded:
            key, row = by_id[incident_id]
            self._remind(session, row, key, wrong[key], now)
        for incident_id in todo.resolved:
            key, row = by_id[incident_id]
            self._resolve(session, row, key, now)

    def _open(self, session: Session, key: Key, condition: Condition, now: datetime) -> None:
        incident_id = session.scalar(
            insert_ignoring_conflicts(session, AlertIncident)
            .values(
                site_id=key.site,
                kind=key.kind,
                subject=key.subject,
                open_key=key.text(),
                began_at=condition.began_at,
                opened_at=now,
                notified_at=now,
                reminders=0,
            )
            .returning(AlertIncident.id)
        )
        if incident_id is None:
            return  # another hub process opened it a moment ago: it tells people
        about = self._about(session, key, condition)
        subject, body = messages.alert(about, self.board_url)
        told = self._queue(session, key, f"incident:{incident_id}", subject, body, now)
        if told:
            log.warning(
                "alert %s at %s (%s): e-mail queued for %d recipient(s)",
                key.kind, key.site, key.subject, told,
            )  # fmt: skip
        else:
            log.warning(
                "alert %s at %s (%s): nobody to tell by e-mail (no user with an address for "
                "it, no alerts.department_email)",
                key.kind, key.site, key.subject,
            )  # fmt: skip

    def _remind(
        self, session: Session, row: AlertIncident, key: Key, condition: Condition, now: datetime
    ) -> None:
        taken = session.execute(
            update(AlertIncident)
            .where(AlertIncident.id == row.id, AlertIncident.notified_at == row.notified_at)
            .values(notified_at=now, reminders=AlertIncident.reminders + 1)
        )
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            return
        about = self._about(session, key, Condition(row.began_at, condition.alarms))
        subject, body = messages.reminder(about, self.board_url, now)
        self._queue(session, key, f"incident:{row.id}", subject, body, now)

    def _resolve(self, session: Session, row: AlertIncident, key: Key, now: datetime) -> None:
        ended = session.execute(
            update(AlertIncident)
            .where(AlertIncident.id == row.id, AlertIncident.resolved_at.is_(None))
            .values(resolved_at=now, open_key=None)
            .execution_options(synchronize_session=False)
        )
        if ended.rowcount != 1:  # type: ignore[attr-defined]
            return  # another hub process ended it a moment ago: it tells people
        why = key.kind
        if key.kind == "door_held_open":
            last = _last_alarm(session, key)
            if last is not None and closed_after(session, key.site, key.subject, last):
                why = "door_closed"
        about = self._about(session, key, Condition(row.began_at))
        subject, body = messages.resolved(about, self.board_url, now, why)
        # Told even to those whose first message still waits for their quiet hours: it
        # leaves after it, rather than leave them believing the door is still forced.
        self._queue(session, key, f"incident:{row.id}", subject, body, now, after_waiting=True)
        log.info("alert %s at %s (%s) ended", key.kind, key.site, key.subject)

    def _queue(
        self,
        session: Session,
        key: Key,
        thread: str,
        subject: str,
        body: str,
        now: datetime,
        after_waiting: bool = False,
    ) -> int:
        """One message per recipient, held through their quiet hours; none beside a message
        of the same incident they have not received yet (quiet hours again), unless
        `after_waiting`."""
        zone = ZoneInfo(self._site(session, key.site)[1])
        waiting = {address.lower() for address in queue.unsent_in_thread(session, thread)}
        told = 0
        for person in recipients(session, key.site, key.kind, self.settings.department_email):
            if person.address.lower() in waiting and not after_waiting:
                continue
            when = release_at(now, zone, person.quiet_start, person.quiet_end)
            queue.enqueue(
                session, person.address, subject, body, thread=thread, not_before=when, now=now
            )
            told += 1
        return told

    def _about(self, session: Session, key: Key, condition: Condition) -> messages.About:
        label, zone = self._site(session, key.site)
        places = place_names(session, [key.site])
        if key.kind in messages.DOOR_KINDS:
            name = places.door(key.site, key.subject)
        else:
            name = places.device(key.site, key.subject)
        return messages.About(
            kind=key.kind,
            site=label,
            timezone=zone,
            subject=key.subject,
            subject_name=name,
            began_at=condition.began_at,
            alarms=condition.alarms,
        )

    @staticmethod
    def _site(session: Session, site_id: str) -> tuple[str, str]:
        """Name (with its town) and time zone; a site not imported yet is named by its id."""
        site = session.get(Site, site_id)
        if site is None:
            return site_id, DEFAULT_ZONE
        return site_label(site.name, site.commune), site.timezone or DEFAULT_ZONE
