"""Errors as API.md wants them: `{"error": "<one clear sentence>"}` and a 4xx status.

Views raise `ApiError`; what Flask or Werkzeug raise (unknown path, body too large, a crash)
is turned into the same shape by `http_error`, so a client never has to parse HTML.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request
from werkzeug.exceptions import HTTPException


class ApiError(Exception):
    """A refusal with its status; `extra` adds fields beside `error` (the bad lines)."""

    def __init__(
        self,
        status: int,
        message: str,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.extra = extra


def api_error(error: ApiError) -> tuple[Response, int, dict[str, str]]:
    return jsonify({"error": error.message, **error.extra}), error.status, error.headers


def _sentence(error: HTTPException) -> str:
    code = error.code or 500
    if code == 404:
        return f"there is no {request.path} in this API (see docs/api.md)"
    if code == 405:
        allowed = ", ".join(sorted(getattr(error, "valid_methods", None) or ()))
        return f"{request.path} does not answer {request.method} (it answers {allowed})"
    if code == 413:
        return "the body is larger than this hub accepts"
    if code >= 500:
        return "the hub failed to answer this request; its log says why"
    return (error.description or error.name).strip()


def http_error(error: HTTPException) -> tuple[Response, int]:
    return jsonify({"error": _sentence(error)}), error.code or 500
