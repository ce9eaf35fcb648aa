"""The hub's HTTP API (API.md), one blueprint under `/api/v1` made of one per area:
`health` and `openapi` (no token), `imports` (department and admin), `reports`,
`evaluation_details` and `events` (every role, each narrowed to the sites its token may see)
and `corrections` (manual sessions).
`hub.web.app.create_app` registers it.
"""

from __future__ import annotations

from flask import Blueprint

from hub.api import (
    corrections,
    evaluation_details,
    events,
    health,
    imports,
    openapi,
    reports,
)
from hub.api.errors import ApiError, api_error

PREFIX = "/api/v1"

api = Blueprint("api", __name__, url_prefix=PREFIX)
api.register_blueprint(health.bp)
api.register_blueprint(openapi.bp)
api.register_blueprint(imports.bp)
api.register_blueprint(reports.bp)
api.register_blueprint(evaluation_details.bp)
api.register_blueprint(events.bp)
api.register_blueprint(corrections.bp)
api.register_error_handler(ApiError, api_error)

__all__ = ["PREFIX", "api"]
