"""`GET /api/v1/openapi.json`: the API described as its users' tools expect (OpenAPI 3.1),
with no token, as `/health`. The document is written by hand in `openapi.yaml` beside this
module; tests/integration/test_openapi.py holds it to the app's routes and parameters, and
runs Schemathesis over it, so it cannot drift from what the hub answers."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from flask import Blueprint

from hub.api import params

DOCUMENT = Path(__file__).with_name("openapi.yaml")

bp = Blueprint("openapi", __name__)


@cache
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(DOCUMENT.read_text(encoding="utf-8"))
    return loaded


@bp.get("/openapi.json")
def openapi() -> dict[str, Any]:
    params.only()
    return document()
