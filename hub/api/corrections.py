"""The manual-session calls (docs/api.md, Sessions by hand): `POST /sessions` (check in),
`POST /sessions/<id>/check-out`, `PATCH /sessions/<id>`. Admin, department, and the animator
of the session's site; another site's session answers 404, as if it did not exist.

The rules are `hub.presence.corrections`; a refusal answers 422 with the form field it is about,
and a correction of a session that changed meanwhile 409 with the session as it now stands.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

from flask import Blueprint, request
from sqlalchemy.orm import Session

from hub.api.auth import access, authenticate
from hub.api.errors import ApiError
from hub.api.output import instant
from hub.api.services import services
from hub.presence import corrections
from hub.store.models import PresenceSession

bp = Blueprint("corrections", __name__)
bp.before_request(authenticate)


def _body(*fields: str, optional: tuple[str, ...] = ()) -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ApiError(400, "the body must be a JSON object")
    for name in data:
        if name not in fields + optional:
            raise ApiError(
                400, f"unknown field '{name}' (this call takes {', '.join(fields + optional)})"
            )
    for name in fields:
        if name not in data:
            raise ApiError(400, f"field '{name}' is required")
    return data


def _text(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str):
        raise ApiError(400, f"field '{name}' must be a string")
    return value


def _instant(data: dict[str, Any], name: str) -> datetime | None:
    value = data.get(name)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise ApiError(400, f"field '{name}': {value!r} is not an ISO 8601 time with its offset")
    return parsed


def _required_instant(data: dict[str, Any], name: str) -> datetime:
    value = _instant(data, name)
    if value is None:
        raise ApiError(400, f"field '{name}' is required")
    return value


def _seen(data: dict[str, Any]) -> str | None:
    """The `version` of the session the client corrects, if it says which it saw."""
    return None if data.get("seen") is None else _text(data, "seen")


def _may_write(site_id: str) -> None:
    own = access().site
    if own is not None and own != site_id:
        raise ApiError(403, f"this token may only correct sessions at site '{own}'")


def session_json(row: PresenceSession) -> dict[str, Any]:
    return {
        "id": row.id,
        "member_id": row.member_id,
        "site": row.site_id,
        "start": instant(row.start),
        "end": instant(row.end),
        "auto_closed": row.auto_closed,
        "end_reason": row.end_reason,
        "manual": row.manual,
        "manual_reason": row.manual_reason,
        "manual_by": row.manual_by,
        "manual_at": instant(row.manual_at),
        "version": corrections.version(row),
    }


def _refused(error: corrections.CorrectionError) -> ApiError:
    return ApiError(422, error.text, field=error.field)


def _actor() -> str:
    return f"api:{access().name}"


def _apply(correction: Callable[[Session], PresenceSession]) -> dict[str, Any]:
    """Make one of `hub.presence.corrections`' changes in its own transaction and answer the session
    as it now stands; a refusal answers 422 naming its field, and nothing is written."""
    try:
        with services().sessions.begin() as session:
            try:
                return session_json(correction(session))
            except corrections.SessionChanged as error:
                now = session_json(error.row)  # read before the rollback expires it
                raise ApiError(409, "the session changed meanwhile", session=now) from None
    except corrections.CorrectionError as error:
        raise _refused(error) from None


@bp.post("/sessions")
def check_in() -> tuple[dict[str, Any], int]:
    data = _body("member_id", "site", "at", "reason")
    site = _text(data, "site")
    _may_write(site)
    return _apply(
        partial(
            corrections.manual_check_in,
            member_id=_text(data, "member_id"),
            site_id=site,
            at=_required_instant(data, "at"),
            reason=_text(data, "reason"),
            actor=_actor(),
        )
    ), 201


def _visible(session_id: int) -> None:
    """404 for a session the token may not see, before anything else is said of it."""
    with services().sessions() as session:
        row = session.get(PresenceSession, session_id)
        own = access().site
        if row is None or (own is not None and row.site_id != own):
            raise ApiError(404, f"there is no session {session_id}")


@bp.post("/sessions/<int:session_id>/check-out")
def check_out(session_id: int) -> dict[str, Any]:
    _visible(session_id)
    data = _body("at", "reason", optional=("seen",))
    return _apply(
        partial(
            corrections.manual_check_out,
            session_id=session_id,
            at=_required_instant(data, "at"),
            reason=_text(data, "reason"),
            actor=_actor(),
            seen=_seen(data),
        )
    )


@bp.patch("/sessions/<int:session_id>")
def correct(session_id: int) -> dict[str, Any]:
    _visible(session_id)
    data = _body("start", "reason", optional=("end", "seen"))
    return _apply(
        partial(
            corrections.correct_session,
            session_id=session_id,
            start=_required_instant(data, "start"),
            end=_instant(data, "end"),
            reason=_text(data, "reason"),
            actor=_actor(),
            seen=_seen(data),
        )
    )
