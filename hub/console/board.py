"""The live board (the home page): each of the user's sites, kept up to date by a stream.

The stream is Server-Sent Events fed by `hub.intake.live.Changes`: the hub publishes the sites that
changed after each committed batch, and each open board re-renders only those cards. Every
event has an id `<epoch>:<change number>`, so a browser that reconnects (the stream ends
every `stream_s`, or the hub restarted) gets what changed meanwhile, or everything if the hub
is a new process.

A stream waits for changes only while one of `max_streams` slots is free; beyond that it is
answered at once (what changed since its last id, or nothing) and the browser comes back a
moment later (`retry`). So a hundred open boards never hold every thread of the HTTP server.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user

from hub.console.access import actor, allowed_sites, login_required, me, require_site
from hub.console.forms.board import AcknowledgeForm, OpenDoorForm
from hub.console.i18n import gettext as _
from hub.console.services import console
from hub.doors import alarms, commands
from hub.people.names import place_names, site_labels
from hub.people.users import Invalid
from hub.reports.board import SiteBoard, site_boards

bp = Blueprint("board", __name__)

#: While a stream has a slot, a comment line this often keeps proxies from closing it.
KEEPALIVE_S = 15.0
#: Reconnection delay told to the browser, in ms: with a slot / without one.
RETRY_MS = 1000
BUSY_RETRY_MS = 2000
_SLOTS = "telecentre.console.stream_slots"


def _boards(sites: list[str]) -> list[SiteBoard]:
    services = console()
    with services.sessions() as session:
        return site_boards(session, sites, services.clock(), max_session_h=services.max_session_h)


def _view() -> tuple[list[str], str | None, bool]:
    """What the board shows: the sites, the one site asked for (`?site=`), and whether it is
    the network view (one row per site: the department's, who see every site) or cards."""
    sites = allowed_sites()
    shown = request.args.get("site") or None
    if shown is not None:
        return [require_site(shown)], shown, False
    return sites, None, me().account.all_sites and len(sites) > 1


@bp.get("/")
@login_required
def index() -> ResponseReturnValue:
    sites, shown, network = _view()
    return render_template(
        "console/board/index.html",
        boards=_boards(sites),
        shown=shown,
        network=network,
        several=len(allowed_sites()) > 1,
        ack_form=AcknowledgeForm(),
        epoch=console().changes.epoch,
        seq=console().changes.seq,
    )


@bp.get("/board/<site_id>")
@login_required
def site(site_id: str) -> ResponseReturnValue:
    """One card, for a board that wants to refresh it by hand (and the tests)."""
    boards = _boards([require_site(site_id)])
    if not boards:
        abort(404)
    return render_template("console/board/_site.html", board=boards[0], ack_form=AcknowledgeForm())


def _event(name: str, data: str, event_id: str | None = None) -> str:
    lines = [f"event: {name}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines += [f"data: {line}" for line in data.splitlines() or [""]]
    return "\n".join(lines) + "\n\n"


def _slots() -> threading.BoundedSemaphore:
    slots: threading.BoundedSemaphore | None = current_app.extensions.get(_SLOTS)
    if slots is None:
        slots = threading.BoundedSemaphore(console().max_streams or 1)
        current_app.extensions[_SLOTS] = slots
    return slots


@bp.get("/board/stream")
def stream() -> ResponseReturnValue:
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    if not current_user.is_authenticated:
        # EventSource cannot follow a redirect to the login page: the page does it.
        body = f"retry: {BUSY_RETRY_MS}\n\n" + _event("expired", url_for("auth.login"))
        return Response(body, mimetype="text/event-stream", headers=headers)
    services = console()
    changes = services.changes
    sites, _shown, network = _view()
    template = "console/board/_row.html" if network else "console/board/_site.html"
    epoch, _, number = request.headers.get("Last-Event-ID", "").partition(":")
    # ASCII digits, a sane length: the header is the client's to write (`²` passes isdigit).
    readable = number.isascii() and number.isdecimal() and len(number) <= 18
    since = int(number) if epoch == changes.epoch and readable else -1
    slots = _slots()
    waiting = services.max_streams > 0 and slots.acquire(blocking=False)

    def cards(changed: set[str], seq: int) -> str:
        ack_form = AcknowledgeForm()
        return "".join(
            _event(
                "site",
                render_template(template, board=board, ack_form=ack_form),
                f"{changes.epoch}:{seq}",
            )
            for board in _boards([s for s in sites if s in changed])
        )

    def generate() -> Iterator[str]:
        nonlocal since
        try:
            yield f"retry: {RETRY_MS if waiting else BUSY_RETRY_MS}\n\n"
            deadline = time.monotonic() + (services.stream_s if waiting else 0)
            while True:
                if since < 0:
                    seq, changed = changes.seq, set(sites)
                else:
                    remaining = max(0.0, deadline - time.monotonic())
                    seq, changed = changes.wait(since, sites, min(remaining, KEEPALIVE_S))
                if changed:
                    yield cards(changed, seq)
                    since = seq
                elif waiting:
                    yield ": still here\n\n"
                if time.monotonic() >= deadline or changes.closed:
                    return
        finally:
            if waiting:
                slots.release()

    return Response(stream_with_context(generate()), mimetype="text/event-stream", headers=headers)


@bp.post("/board/alarms/<int:alarm_id>/acknowledge")
@login_required
def acknowledge(alarm_id: int) -> ResponseReturnValue:
    form = AcknowledgeForm()
    if not form.validate_on_submit():
        abort(400)
    services = console()
    try:
        with services.sessions.begin() as session:
            alarm = alarms.acknowledge(session, alarm_id, actor=actor(), sites=allowed_sites())
            services.changes.after_commit(session, {alarm.site_id})
    except Invalid:
        abort(404)
    flash(_("Alarm acknowledged."), "success")
    return redirect(url_for("board.index"))


@bp.route("/board/<site_id>/door", methods=["GET", "POST"])
@login_required
def open_door(site_id: str) -> ResponseReturnValue:
    require_site(site_id)
    services = console()
    with services.sessions() as session:
        choices = commands.doors_of(session, site_id)
        name = site_labels(session, [site_id]).get(site_id, site_id)
        places = place_names(session, [site_id])
    form = OpenDoorForm()
    form.door.choices = [
        (
            f"{d.device}/{d.door}",
            (places.door(site_id, d.door) or _("the door"))
            + ("" if d.online else " – " + _("offline")),
        )
        for d in choices
    ]
    if form.validate_on_submit():
        device, _sep, door = (form.door.data or "").partition("/")
        try:
            with services.sessions.begin() as session:
                command = commands.open_door(
                    session,
                    services.doors,
                    site=site_id,
                    device=device,
                    door=door,
                    reason=form.reason.data or "",
                    actor=actor(),
                )
                services.changes.after_commit(session, {site_id})
        except Invalid as refused:
            getattr(form, refused.field, form.door).errors.append(
                _(refused.message, **refused.params)
            )
        else:
            return redirect(url_for("board.door_command", site_id=site_id, command_id=command.id))
    return render_template(
        "console/board/door.html", form=form, site_id=site_id, site_name=name, doors=choices
    )


@bp.get("/board/<site_id>/door/<command_id>")
@login_required
def door_command(site_id: str, command_id: str) -> ResponseReturnValue:
    require_site(site_id)
    with console().sessions() as session:
        command = commands.command(session, command_id)
        places = place_names(session, [site_id])
    if command is None or command.site_id != site_id:
        abort(404)
    age = (console().clock() - command.requested_at).total_seconds()
    partial = request.headers.get("HX-Request") == "true"
    return render_template(
        "console/board/_command.html" if partial else "console/board/command.html",
        command=command,
        door_name=places.door(site_id, command.door),
        site_id=site_id,
        waited_too_long=command.answered_at is None and age > commands.ANSWER_WITHIN_S,
    )
