"""What changed, site by site, for the console's live board: an in-process publish/subscribe.

The hub notifies it after each committed ingest batch (and after a door command, an alarm
acknowledged, the minute's auto-closes); the boards' broadcaster (`hub.console.board_streams`)
listens and sends each open board the sites its user may see. Changes are numbered: a board
that reconnects says the last number it saw and gets the sites that changed since, so nothing
is missed in between. Numbers restart with the process, which `epoch` tells apart.

>>> changes = Changes()
>>> changes.publish({"murat"})
1
>>> changes.changed_since(0, {"murat", "ydes"})
{'murat'}
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Collection

from sqlalchemy.orm import Session

from hub.store.db import after_commit
from hub.store.events import NewEvent


class Changes:
    """`publish(sites)` from any thread; `listen(wake)`: `wake()` is called after each change
    and at `close()`, from the thread that published, so it must only take note (as setting a
    `threading.Event` does)."""

    def __init__(self) -> None:
        self.epoch = secrets.token_hex(4)
        self._seq = 0
        self._changed_at: dict[str, int] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._listeners: list[Callable[[], None]] = []

    @property
    def seq(self) -> int:
        return self._seq

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """The hub is stopping: the listeners end their boards' streams, so that browsers
        reconnect to the hub that comes next."""
        with self._lock:
            self._closed = True
        self._wake()

    def listen(self, wake: Callable[[], None]) -> None:
        with self._lock:
            self._listeners.append(wake)

    def publish(self, sites: Collection[str]) -> int:
        """Mark `sites` changed now; the new change number."""
        with self._lock:
            if sites:
                self._seq += 1
                for site in sites:
                    self._changed_at[site] = self._seq
            seq = self._seq
        if sites:
            self._wake()
        return seq

    def changed_since(self, since: int, sites: Collection[str]) -> set[str]:
        """Which of `sites` changed after change number `since`."""
        with self._lock:
            return {site for site in sites if self._changed_at.get(site, 0) > since}

    def _wake(self) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for wake in listeners:
            wake()

    def after_commit(self, session: Session, sites: Collection[str]) -> None:
        """Publish `sites` once the session's transaction has committed."""
        if sites:
            frozen = frozenset(sites)

            def publish() -> None:
                self.publish(frozen)

            after_commit(session, publish)

    def on_batch(self, session: Session, new: list[NewEvent]) -> None:
        """An ingest hook: every site with a new event (tap, door, alarm) changed."""
        self.after_commit(session, {item.event.site for item in new})
