"""Sign-in links asked on `POST /espace-membre/` are looked up and mailed after the answer,
on a thread of their own: the request's own work (the form, the limits, one item in a
queue) is the same whether the address is a member's or not, so its time tells nothing of
who is a member (the lookup, the pass row and the mail would otherwise be a member's only).

- The queue is bounded (`QUEUE_SIZE`): full, the request is refused alike for any address.
- `stop()` (the hub's, after its web server stopped) works every request queued before it:
  nothing asked is lost on a clean stop. A crash loses what was queued and not yet written
  (at most a few seconds' worth): those people got the usual page and no mail, and ask
  again, as for a mail lost on the way.
- Each request is its own transaction: one that fails is logged and the next goes on.

>>> links = LinkRequests(sessions)                                   # doctest: +SKIP
>>> links.submit("lea@example.fr", link_base="https://hub.example/espace-membre/lien/", now=now)
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from dataclasses import dataclass
from datetime import datetime

from flask import Flask
from sqlalchemy.orm import Session, sessionmaker

from hub.people import member_access

log = logging.getLogger(__name__)

#: The app's extension holding its `LinkRequests`.
LINKS = "telecentre.member_space.links"
#: Requests waiting at most: over the per-client limits of a hundred clients at once.
QUEUE_SIZE = 1000
#: How long a request waits before its work, so that the work (a member's mostly) falls
#: on no answer of the same moment: at 0.1 s members' answers were still ~20 % slower in
#: `bench.member_signin`, at 1 s they are not. A mail a second later changes nothing.
SETTLE_S = 1.0
#: How long `stop()` waits for the queue's last requests to be written.
STOP_WAIT_S = 30.0


@dataclass(frozen=True)
class _Asked:
    email: str
    link_base: str
    #: When it was asked: the link is valid from then.
    at: datetime
    #: `time.monotonic()` then.
    queued: float


class LinkRequests:
    def __init__(self, sessions: sessionmaker[Session], size: int = QUEUE_SIZE) -> None:
        self._sessions = sessions
        self._queue: queue.Queue[_Asked | None] = queue.Queue(size)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stopped = False

    def submit(self, email: str, *, link_base: str, now: datetime) -> bool:
        """Queue a request for a link (no mail for a stranger's address, as
        `member_access.request_link`); False when the queue is full or stopped."""
        with self._lock:
            if self._stopped:
                return False
            if self._thread is None:  # started with the first request: most apps get none
                self._thread = threading.Thread(target=self._loop, name="member-links", daemon=True)
                self._thread.start()
            try:
                self._queue.put_nowait(_Asked(email, link_base, now, time.monotonic()))
            except queue.Full:
                log.warning("member link requests: queue full (%d), one refused", QUEUE_SIZE)
                return False
        return True

    def drain(self, timeout: float) -> bool:
        """Whether every request queued so far was worked within `timeout` s."""
        done = self._queue.all_tasks_done
        with done:
            return done.wait_for(lambda: self._queue.unfinished_tasks == 0, timeout=timeout)

    def stop(self, timeout: float = STOP_WAIT_S) -> None:
        """Work what is queued, then end the thread; later requests are refused."""
        with self._lock:
            self._stopped = True
            thread = self._thread
        if thread is None:
            return
        with contextlib.suppress(queue.Full):  # then the thread ends on the join's bound
            self._queue.put(None, timeout=timeout)  # after every request queued: worked first
        thread.join(timeout)
        if thread.is_alive():
            log.error(
                "member link requests: %d not written after %.0f s; those members must ask again",
                self._queue.qsize(),
                timeout,
            )

    def _loop(self) -> None:
        while True:
            asked = self._queue.get()
            try:
                if asked is None:
                    return
                time.sleep(max(0.0, asked.queued + SETTLE_S - time.monotonic()))
                with self._sessions.begin() as session:
                    member_access.request_link(
                        session, asked.email, link_base=asked.link_base, now=asked.at
                    )
            except Exception:
                log.exception("member link request failed; the person may ask again")
            finally:
                self._queue.task_done()


def link_requests(app: Flask) -> LinkRequests:
    found: LinkRequests = app.extensions[LINKS]
    return found
