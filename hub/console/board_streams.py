"""The live board's open streams, all kept up to date by one thread and no HTTP worker.

`/board/stream` (`hub.console.board`) checks who asks and what they may see, answers the
first events, and hands its socket over to the HTTP server's event loop
(`hub.web.streams.Handover`) with a `Viewer`: whose board it is and what it shows. From then
on `BoardStreams` listens to `Changes`: after each change it renders each changed site's card
once per template and language (not once per board: the cards carry nothing of their viewer,
the page fills in its own CSRF token) and queues on every open stream the cards it shows
(`hub.web.streams.send`, which never blocks: a client that does not read is dropped).

Before each round, and at least every `heartbeat_s` (a comment line that keeps proxies and the
server's idle timeout from closing a quiet stream), every stream's user is read again from the
database, so that the checks made in Flask still hold: signed out, password changed or account
disabled (a new session nonce) → `expired` (the page goes to the sign-in form) and the stream
ends; another role or fewer sites → `reload` (the page shows what it may see now). A stream
also ends when its session would have expired without activity (the browser comes back with
its current cookie and the view decides), and when the hub stops (`Changes.close`). The thread
exists only while streams are open.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, render_template
from flask_babel import force_locale

from hub.console.services import ConsoleServices
from hub.people import users
from hub.reports.board import SiteBoard, site_boards
from hub.web.streams import Stream, send

log = logging.getLogger(__name__)

HEARTBEAT = b": still here\n\n"
#: The longest between two heartbeats: proxies close a stream silent for a minute or so.
MAX_HEARTBEAT_S = 15.0
#: How long a stream allowed to open counts towards its account's share if the server never
#: hands it over (its client left first): then the share is whole again.
CLAIM_S = 30.0


def event(name: str, data: str, event_id: str | None = None) -> str:
    """One Server-Sent Event (`data` over as many `data:` lines as it has lines)."""
    lines = [f"event: {name}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines += [f"data: {line}" for line in data.splitlines() or [""]]
    return "\n".join(lines) + "\n\n"


def boards(services: ConsoleServices, sites: list[str]) -> list[SiteBoard]:
    with services.sessions() as session:
        return site_boards(session, sites, services.clock(), max_session_h=services.max_session_h)


@dataclass(frozen=True)
class Viewer:
    """Whose board a stream is, as the view checked it, and what it shows."""

    user_id: int
    session_nonce: str
    role: str
    sites: tuple[str, ...]
    template: str
    language: str
    login_url: str
    #: `time.monotonic()` when the session would end without activity.
    ends_at: float

    def verdict(self, account: users.Account | None, now: float) -> bytes | None:
        """None while the stream may go on; else its last bytes (maybe none)."""
        if account is None or not account.active or account.session_nonce != self.session_nonce:
            return event("expired", self.login_url).encode()
        if account.role != self.role or not (
            account.all_sites or set(self.sites) <= set(account.sites)
        ):
            return event("reload", "").encode()
        if now >= self.ends_at:
            return b""
        return None


@dataclass(eq=False)
class _Subscriber:
    viewer: Viewer
    stream: Stream
    since: int  # the last change number whose cards it has
    sent_at: float


class BoardStreams:
    def __init__(self, app: Flask, services: ConsoleServices) -> None:
        self._app = app
        self._services = services
        self._lock = threading.Lock()
        self._subscribers: list[_Subscriber] = []
        #: Streams allowed but not handed over yet: (account, until when they count).
        self._claims: list[tuple[int, float]] = []
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        services.changes.listen(self._wake.set)

    def claim(self, user_id: int, share: int) -> bool:
        """Whether one more stream of this account may be held open, within its `share`; if
        so, it counts from now, not once the server hands it over (a turn of its loop later,
        after the worker thread is free): boards asked for at once must not all pass."""
        now = time.monotonic()
        with self._lock:
            self._claims = [(user, until) for user, until in self._claims if until > now]
            held = sum(
                not s.stream.closed and s.viewer.user_id == user_id for s in self._subscribers
            ) + sum(user == user_id for user, _ in self._claims)
            if held >= share:
                return False
            self._claims.append((user_id, now + CLAIM_S))
            return True

    def opener(self, viewer: Viewer, since: int) -> Callable[[Stream], None]:
        """What the server calls once the stream is handed over; `since`: the change number
        whose cards the first events carried."""

        def opened(stream: Stream) -> None:
            with self._lock:
                for index, (user, _until) in enumerate(self._claims):
                    if user == viewer.user_id:  # now counted as open
                        del self._claims[index]
                        break
                self._subscribers.append(_Subscriber(viewer, stream, since, time.monotonic()))
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name="board-streams", daemon=True
                    )
                    self._thread.start()
            self._wake.set()

        return opened

    def _run(self) -> None:
        while True:
            self._wake.clear()
            with self._lock:
                self._subscribers = [s for s in self._subscribers if not s.stream.closed]
                subscribers = list(self._subscribers)
                if not subscribers:
                    self._thread = None
                    return
            try:
                ended = self._round(subscribers)
            except Exception:
                log.exception("the live board's streams could not be updated: they end")
                ended = subscribers
                send(((s.stream, b"") for s in subscribers), end=True)
            if ended:
                with self._lock:
                    gone = set(map(id, ended))
                    self._subscribers = [s for s in self._subscribers if id(s) not in gone]
            self._wake.wait(self._services.heartbeat_s)

    def _round(self, subscribers: list[_Subscriber]) -> list[_Subscriber]:
        """Send each stream what changed for it (or a heartbeat); the streams ended."""
        changes = self._services.changes
        now = time.monotonic()
        if changes.closed:
            send(((s.stream, b"") for s in subscribers), end=True)
            return subscribers
        seq = changes.seq  # before reading the cards: what changes after is sent next round
        with self._services.sessions() as session:
            accounts = {
                user_id: users.account(session, user_id)
                for user_id in {s.viewer.user_id for s in subscribers}
            }
        ended: list[tuple[_Subscriber, bytes]] = []
        wanted: list[tuple[_Subscriber, set[str]]] = []
        for subscriber in subscribers:
            last = subscriber.viewer.verdict(accounts[subscriber.viewer.user_id], now)
            if last is None:
                changed = changes.changed_since(subscriber.since, subscriber.viewer.sites)
                wanted.append((subscriber, changed))
            else:
                ended.append((subscriber, last))
        cards = self._cards(wanted, f"{changes.epoch}:{seq}")
        items: list[tuple[Stream, bytes]] = []
        for subscriber, changed in wanted:
            viewer = subscriber.viewer
            data = b"".join(
                cards.get((site, viewer.template, viewer.language), b"")
                for site in viewer.sites
                if site in changed
            )
            subscriber.since = seq
            if not data and now - subscriber.sent_at >= self._services.heartbeat_s / 2:
                data = HEARTBEAT
            if data:
                items.append((subscriber.stream, data))
                subscriber.sent_at = now
        send(items)
        send(((s.stream, last) for s, last in ended), end=True)
        return [s for s, _last in ended]

    def _cards(
        self, wanted: list[tuple[_Subscriber, set[str]]], event_id: str
    ) -> dict[tuple[str, str, str], bytes]:
        """Each changed site's card event, once per template and language asked for."""
        views: dict[tuple[str, str], set[str]] = {}
        for subscriber, changed in wanted:
            viewer = subscriber.viewer
            views.setdefault((viewer.template, viewer.language), set()).update(changed)
        if not views:
            return {}
        shown = sorted(set().union(*views.values()))
        cards: dict[tuple[str, str, str], bytes] = {}
        with self._app.test_request_context():
            for board in boards(self._services, shown):
                for (template, language), sites in views.items():
                    if board.site_id in sites:
                        with force_locale(language):
                            html = render_template(template, board=board, ack_form=None)
                        cards[board.site_id, template, language] = event(
                            "site", html, event_id
                        ).encode()
        return cards
