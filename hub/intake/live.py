"""What changed, site by site, for the console's live board: an in-process publish/subscribe.

The hub notifies it after each committed ingest batch (and after a door command, an alarm
acknowledged, the minute's auto-closes); each open board waits on it for the sites its user
may see. Changes are numbered: a board that reconnects says the last number it saw and gets
the sites that changed since, so nothing is missed in between. Numbers restart with the
process, which `epoch` tells apart.

>>> changes = Changes()
>>> changes.publish({"murat"})
1
>>> changes.wait(0, {"murat", "ydes"}, timeout=0)
(1, {'murat'})
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Collection

from sqlalchemy.orm import Session

from hub.store.db import after_commit
from hub.store.events import NewEvent


class Changes:
    """`publish(sites)` from any thread; `wait(since, sites, timeout)` from each board."""

    def __init__(self) -> None:
        self.epoch = secrets.token_hex(4)
        self._seq = 0
        self._changed_at: dict[str, int] = {}
        self._condition = threading.Condition()
        self._closed = False

    @property
    def seq(self) -> int:
        return self._seq

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """The hub is stopping: every waiting board returns now (and ends its stream, so
        the browser reconnects to the hub that comes next)."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()

    def publish(self, sites: Collection[str]) -> int:
        """Mark `sites` changed now; the new change number."""
        with self._condition:
            if sites:
                self._seq += 1
                for site in sites:
                    self._changed_at[site] = self._seq
                self._condition.notify_all()
            return self._seq

    def changed_since(self, since: int, sites: Collection[str]) -> set[str]:
        with self._condition:
            return {site for site in sites if self._changed_at.get(site, 0) > since}

    def wait(self, since: int, sites: Collection[str], timeout: float) -> tuple[int, set[str]]:
        """The current change number and which of `sites` changed after `since`, as soon as
        one did or after `timeout` seconds (then the set may be empty)."""
        with self._condition:
            self._condition.wait_for(
                lambda: (
                    self._closed or any(self._changed_at.get(site, 0) > since for site in sites)
                ),
                timeout,
            )
            changed = {site for site in sites if self._changed_at.get(site, 0) > since}
            return self._seq, changed

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
