"""The live board (the home page): each of the user's sites, kept up to date by a stream.

The stream is Server-Sent Events fed by `hub.intake.live.Changes`: the hub publishes the sites that
changed after each committed batch, and each open board gets only those cards again. Every
event has an id `<epoch>:<change number>`, so a browser that reconnects (the hub restarted, or
its session's idle time came) gets what changed meanwhile, or everything if the hub is a new
process.

The view checks who asks and answers the first events; then, served by the hub's HTTP server,
the stream is handed over to its event loop (`hub.console.board_streams`): an open board holds
a socket, never a thread, and thousands of them wait for changes at once.
"""

from __future__ import annotations

import threading
import time

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_login import current_user

from hub.console.access import SEEN, actor, allowed_sites, login_required, me, require_site
from hub.console.board_streams import BoardStreams, Viewer, boards, event
from hub.console.forms.board import AcknowledgeForm, OpenDoorForm
from hub.console.i18n import gettext as _
from hub.console.services import console
from hub.doors import alarms, commands
from hub.people.names import place_names, site_labels
from hub.people.users import Invalid
from hub.web.streams import HANDOVER, Handover

bp = Blueprint("board", __name__)

#: Reconnection delay told to the browser, in ms.
RETRY_MS = 1000
#: `app.extensions[STREAMS]`: the app's `BoardStreams`, made at its first stream.
STREAMS = "telecentre.console.board_streams"
_streams_made = threading.Lock()


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
        boards=boards(console(), sites),
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
    found = boards(console(), [require_site(site_id)])
    if not found:
        abort(404)
    return render_template("console/board/_site.html", board=found[0], ack_form=AcknowledgeForm())


def _streams() -> BoardStreams:
    with _streams_made:  # two first streams at once must not make two
        streams: BoardStreams | None = current_app.extensions.get(STREAMS)
        if streams is None:
            app = current_app._get_current_object()  # type: ignore[attr-defined]
            streams = current_app.extensions[STREAMS] = BoardStreams(app, console())
        return streams


@bp.get("/board/stream")
def stream() -> ResponseReturnValue:
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    if not current_user.is_authenticated:
        # EventSource cannot follow a redirect to the login page: the page does it.
        body = f"retry: {RETRY_MS}\n\n" + event("expired", url_for("auth.login"))
        return Response(body, mimetype="text/event-stream", headers=headers)
    services = console()
    changes = services.changes
    sites, _shown, network = _view()
    template = "console/board/_row.html" if network else "console/board/_site.html"
    epoch, _, number = request.headers.get("Last-Event-ID", "").partition(":")
    # ASCII digits, a sane length: the header is the client's to write (`²` passes isdigit).
    readable = number.isascii() and number.isdecimal() and len(number) <= 18
    seq = changes.seq  # before reading the cards: what changes after is sent by the stream
    changed = set(sites)
    if epoch == changes.epoch and readable:
        changed = changes.changed_since(int(number), sites)
    ack_form = AcknowledgeForm()
    first = f"retry: {RETRY_MS}\n\n" + "".join(
        event(
            "site",
            render_template(template, board=board, ack_form=ack_form),
            f"{changes.epoch}:{seq}",
        )
        for board in boards(services, [s for s in sites if s in changed])
    )
    handover: Handover | None = request.environ.get(HANDOVER)
    account = me().account
    # Past its account's share, a board is not held open: its browser asks again after
    # `RETRY_MS`, and gets only what changed since (`Last-Event-ID`). A HEAD holds nothing.
    if (
        handover is not None
        and request.method == "GET"
        and not changes.closed
        and _streams().claim(account.id, services.streams_per_account)
    ):
        now = time.time()
        idle_s = current_app.permanent_session_lifetime.total_seconds()
        viewer = Viewer(
            user_id=account.id,
            session_nonce=account.session_nonce,
            role=account.role,
            sites=tuple(sites),
            template=template,
            language=str(get_locale()),
            login_url=url_for("auth.login"),
            ends_at=time.monotonic() + max(1.0, session.get(SEEN, now) + idle_s - now),
        )
        handover.accept(_streams().opener(viewer, since=seq))
    # An iterator, not a string: no Content-Length, so the server may keep the answer open.
    return Response(iter([first]), mimetype="text/event-stream", headers=headers)


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
