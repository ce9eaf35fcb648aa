"""What the API needs from the running hub, injected by `create_app` rather than imported,
so tests and the service wire the same views to different databases, brokers and hooks."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from flask import current_app
from sqlalchemy.orm import Session, sessionmaker

from hub.api.throttle import FailedAuth
from hub.config import NamedToken
from hub.rules.presence import DEFAULT_MAX_SESSION_H
from hub.store.events import OnBatch
from hub.store.models import utcnow

#: Called after an import committed, with the sites whose access list must be published.
AfterImport = Callable[[set[str]], None]

EXTENSION = "telecentre.api"


def _never_connected() -> bool:
    return False


@dataclass
class Services:
    sessions: sessionmaker[Session]
    #: Bearer token → its role (`department`, `admin`, `animator:<site>`) and name.
    tokens: Mapping[str, NamedToken]
    #: Whether the hub's MQTT client is connected; without one the API says "down".
    mqtt_up: Callable[[], bool] = _never_connected
    #: Run in an events import's transaction, as ingest runs them on MQTT batches (presence).
    presence_hooks: list[OnBatch] = field(default_factory=list)
    after_import: AfterImport | None = None
    #: "Now" for the occupancy: who is present depends on it (auto-close); tests fix it.
    clock: Callable[[], datetime] = utcnow
    #: RULES.md's `max_session_h`, from the hub config's `rules`.
    max_session_h: float = DEFAULT_MAX_SESSION_H
    #: Failed authentications per address (`hub.api.throttle`).
    failed_auth: FailedAuth = field(default_factory=FailedAuth)

    def token_of(self, token: str) -> NamedToken | None:
        """The token's role and name; every token is compared in constant time, so response
        times do not tell how much of a guess was right."""
        found = None
        for known, entry in self.tokens.items():
            if hmac.compare_digest(known.encode(), token.encode()):
                found = entry
        return found


def services() -> Services:
    found: Services = current_app.extensions[EXTENSION]
    return found
