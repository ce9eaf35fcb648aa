"""The import calls: sites (YAML), members (CSV), events (JSON Lines), department or admin only.

Each file is imported in one transaction: a file with a bad line writes nothing (422 with
every bad line), and a crash half-way leaves nothing behind. Events are the exception the
contract asks for: the good lines are stored and the bad ones listed, as live MQTT events are.
Every import is audited with the token's name (`api:<name>`), in the import's transaction.

Each call takes a body of its own size (`MAX_BYTES`): an events file of an edge that was
offline for weeks fits; a runaway upload gets 413 before it is read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Blueprint, request
from sqlalchemy.orm import Session

from hub.api import params
from hub.api.auth import access, authenticate, require_all_sites
from hub.api.errors import ApiError
from hub.api.services import services
from hub.doors.access_lists import record_import
from hub.intake.ingest import ingest_lines
from hub.people.imports import ImportResult, InvalidFile, import_members, import_sites
from hub.web.body_limits import LARGEST_BODY_BYTES, takes_body

log = logging.getLogger(__name__)

bp = Blueprint("imports", __name__)

MIB = 1024 * 1024
#: The largest body each import takes: the network's sites, some 100,000 members, and the
#: events of an edge that was offline for weeks.
MAX_BYTES = {"sites": 1 * MIB, "members": 16 * MIB, "events": LARGEST_BODY_BYTES}


@bp.before_request
def _staff_only() -> None:
    authenticate()
    require_all_sites("importing")
    params.only()


def _body_text() -> str:
    try:
        return request.get_data().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, f"the body is not UTF-8 text (byte {exc.start})") from None


def _import(what: str, run: Callable[[Session, str], ImportResult]) -> dict[str, int]:
    body = _body_text()
    try:
        with services().sessions.begin() as session:
            result = run(session, body)
            record_import(
                session,
                f"api:{access().name}",
                what,
                result.access_changed,
                badges=result.badge_changes,
                created=result.created,
                updated=result.updated,
            )
    except InvalidFile as invalid:
        count = len(invalid.problems)
        raise ApiError(
            422,
            f"the {what} file has {count} bad line{'s' if count > 1 else ''}; nothing was imported",
            lines=[
                {"line": p.line, "field": p.field, "error": p.message} for p in invalid.problems
            ],
        ) from None
    hook = services().after_import
    if hook is not None and result.access_changed:
        try:
            hook(set(result.access_changed))
        except Exception:
            # The import is committed: its answer must say so; the log says what failed.
            log.exception("publishing the access lists of %s failed", sorted(result.access_changed))
    return {"created": result.created, "updated": result.updated}


@bp.post("/sites/import")
@takes_body(MAX_BYTES["sites"])
def sites() -> dict[str, int]:
    return _import("sites", import_sites)


@bp.post("/members/import")
@takes_body(MAX_BYTES["members"])
def members() -> dict[str, int]:
    return _import("members", import_members)


@bp.post("/events/import")
@takes_body(MAX_BYTES["events"])
def events() -> dict[str, object]:
    lines = request.get_data().splitlines()
    with services().sessions.begin() as session:
        result = ingest_lines(session, lines, on_batch=services().presence_hooks)
        record_import(
            session,
            f"api:{access().name}",
            "events",
            (),
            accepted=result.accepted,
            duplicates=result.duplicates,
            rejected=len(result.rejected),
        )
    return {
        "accepted": result.accepted,
        "duplicates": result.duplicates,
        "rejected": [{"line": bad.line, "error": bad.error} for bad in result.rejected],
    }
