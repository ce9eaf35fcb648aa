"""`GET /api/v1/health`: for monitoring, so it needs no token and reveals no data."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from hub.api.services import services
from hub.presence.events import count_quarantined

log = logging.getLogger(__name__)

bp = Blueprint("health", __name__)


def _quarantined() -> int | None:
    """Taps kept but not applied (a number to watch, no data); None: the database is down."""
    try:
        with services().sessions() as session:
            session.execute(text("SELECT 1"))
            return count_quarantined(session)
    except SQLAlchemyError:
        log.exception("health: the database does not answer")
        return None


@bp.get("/health")
def health() -> tuple[Response, int]:
    """The hub serves reports without the broker, so only a dead database makes it 503;
    a broker that is down shows in `mqtt` for whoever watches, quarantined taps (docs/rules.md)
    in `quarantined`."""
    quarantined = _quarantined()
    db = quarantined is not None
    body = {
        "status": "ok" if db else "down",
        "db": "ok" if db else "down",
        "mqtt": "ok" if services().mqtt_up() else "down",
        "quarantined": quarantined,
    }
    return jsonify(body), 200 if db else 503
