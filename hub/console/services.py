"""What the console needs from the running hub, injected by `create_app` (as the API's
`Services`), so tests and the service wire the same views to different databases and brokers.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime

from flask import current_app
from sqlalchemy.orm import Session, sessionmaker

from hub.doors.commands import DoorOpener
from hub.intake.live import Changes
from hub.store.models import utcnow

EXTENSION = "telecentre.console"


@dataclass
class ConsoleServices:
    sessions: sessionmaker[Session]
    #: What changed site by site, for the live board (the service notifies it after commit).
    changes: Changes = field(default_factory=Changes)
    #: Sends door commands through the hub's MQTT client; None: no broker (doors say offline).
    doors: DoorOpener | None = None
    clock: Callable[[], datetime] = utcnow
    #: Fresh access lists for these sites, published once committed (the hub's
    #: `Hub.publish_access_lists`); None: no broker, the lists go out with the next ones.
    publish_access_lists: Callable[[Collection[str]], None] | None = None
    #: RULES.md's `max_session_h`: who is still present on the board.
    max_session_h: float = 12.0
    #: The retention's `sessions_retention_years`: how far back a close looks for corrections.
    sessions_retention_years: int = 5
    #: Seconds between two heartbeats on a quiet board stream: well under the HTTP server's
    #: `channel_timeout_s`, which closes a silent socket.
    heartbeat_s: float = 10.0
    #: `console.streams_per_account`.
    streams_per_account: int = 20


def console() -> ConsoleServices:
    found: ConsoleServices = current_app.extensions[EXTENSION]
    return found
