"""`GET /api/v1/health`: for monitoring, so it needs no token and reveals no data."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from hub.api.services import services

log = logging.getLogger(__name__)

bp = Blueprint("health", __name__)


def _database_up() -> bool:
    try:
        with services().sessions() as session:
            session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        log.exception("health: the database does not answer")
        return False
    return True


@bp.get("/health")
def health() -> tuple[Response, int]:
    """The hub serves reports without the broker, so only a dead database makes it 503;
    a broker that is down shows in `mqtt` for whoever watches."""
    db = _database_up()
    body = {
        "status": "ok" if db else "down",
        "db": "ok" if db else "down",
        "mqtt": "ok" if services().mqtt_up() else "down",
    }
    return jsonify(body), 200 if db else 503
