"""The hub's mail thread: every `mail.poll_s`, run the jobs that queue messages (the alerts'
scan), then send what is due. One thread: the jobs never race each other, and a slow mail
server never holds the ingest or the web pages.

>>> worker = MailWorker(sessions, config.mail, jobs=[alerts.scan])     # doctest: +SKIP
>>> worker.start(); …; worker.stop()
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from hub.config import Mail
from hub.mail import queue
from hub.mail.smtp import Connection, Refused, build
from hub.store.models import utcnow

log = logging.getLogger(__name__)

#: A job of the mail thread, given "now".
Job = Callable[[datetime], None]


class MailWorker:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: Mail,
        *,
        jobs: Sequence[Job] = (),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.jobs = list(jobs)
        self.clock = clock
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._rounds = 0
        self._round_done = threading.Condition()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="mail", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=self.settings.smtp.timeout_s + 5 if self.settings.smtp else 5)

    def wake(self) -> None:
        """A round now rather than at the next poll (something was just queued)."""
        self._wake.set()

    @property
    def rounds(self) -> int:
        """Rounds ended since `start()`."""
        return self._rounds

    def wait_rounds(self, count: int, timeout: float) -> bool:
        """Whether `count` more rounds ended within `timeout` s (tests wait on outcomes)."""
        with self._round_done:
            goal = self._rounds + count
            return self._round_done.wait_for(lambda: self._rounds >= goal, timeout=timeout)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self.run_once()
            except Exception:
                log.exception("mail round failed; it runs again at the next poll")
            with self._round_done:
                self._rounds += 1
                self._round_done.notify_all()
            self._wake.wait(self.settings.poll_s)
            self._wake.clear()

    def run_once(self) -> int:
        """The jobs, then the messages due: how many the server accepted."""
        now = self.clock()
        for job in self.jobs:
            try:
                job(now)
            except Exception:
                log.exception("mail job %s failed; it runs again at the next poll", job)
        sent = self.send_due(self.clock())
        with self.sessions.begin() as session:
            queue.purge(session, self.clock() - timedelta(days=self.settings.keep_days))
        return sent

    def send_due(self, now: datetime) -> int:
        smtp = self.settings.smtp
        if smtp is None:
            return 0  # they wait in the queue, shown to admins, until a server is configured
        with self.sessions.begin() as session:
            claimed = queue.claim_due(session, now)
        if not claimed:
            return 0
        sent = 0
        pending = list(claimed)
        try:
            with Connection(smtp) as connection:
                while pending:
                    message = pending[0]
                    try:
                        connection.send(
                            build(
                                smtp, message.id, message.to_address, message.subject, message.body
                            )
                        )
                    except Refused as refused:
                        self._refused(message, refused)
                    else:
                        with self.sessions.begin() as session:
                            queue.mark_sent(session, message.id, self.clock())
                        sent += 1
                    pending.pop(0)
        except Refused as refused:  # no connection: every message left waits
            log.warning("mail server unreachable, %d message(s) wait: %s", len(pending), refused)
            for message in pending:
                self._refused(message, refused)
        return sent

    def _refused(self, message: queue.Outgoing, refused: Refused) -> None:
        with self.sessions.begin() as session:
            state = queue.mark_refused(
                session, message.id, refused.error, self.clock(), self.settings, final=refused.final
            )
        if state == "failed":
            log.error("e-mail %d to %s given up: %s", message.id, message.to_address, refused)
