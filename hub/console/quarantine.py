"""Quarantined taps, for admins: the taps the hub stored but could not trust as stamped
(docs/rules.md, Quarantine), each applied or dismissed by a person — the same functions as
`telecentre-hub events apply|dismiss` and the API (`hub.presence.events`), audited."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from hub.api.services import services
from hub.console.access import actor, roles_required, site_names
from hub.console.forms.admin import ActiveForm
from hub.console.query import page_number
from hub.console.services import console
from hub.people import members
from hub.presence import events

bp = Blueprint("quarantine", __name__, url_prefix="/admin/quarantine")

PER_PAGE = 50
REASONS = {
    "future": _l("stamped ahead of its receipt (the device's clock ran ahead)"),
    "too_old": _l("stamped long before its receipt (a clock in 1970, or back after months)"),
    "final_session": _l("before a final session (correct that session by hand instead)"),
}


@bp.get("/", endpoint="index")
@roles_required("admin")
def index() -> ResponseReturnValue:
    page = page_number()
    with console().sessions() as session:
        found = events.list_events(
            session, status="quarantined", limit=PER_PAGE, offset=(page - 1) * PER_PAGE
        )
        names = members.names(session, [row.member_id for row in found.rows])
    return render_template(
        "console/admin/quarantine.html",
        found=found,
        names=names,
        sites=site_names(),
        reasons=REASONS,
        page=page,
        pages=max(1, -(-found.total // PER_PAGE)),
        page_url=lambda number: url_for("quarantine.index", page=number),
        active_form=ActiveForm(),
    )


@bp.post("/<event_id>/<any(apply, dismiss):verb>")
@roles_required("admin")
def decide(event_id: str, verb: str) -> ResponseReturnValue:
    """Apply the tap as stamped (its member × site replayed) or delete it."""
    if not ActiveForm().validate_on_submit():
        abort(400)
    try:
        with console().sessions.begin() as session:
            if verb == "apply":
                row = events.apply_quarantined(
                    session, event_id, actor=actor(), presence=services().presence_hooks
                )
                console().changes.after_commit(session, {row.site})
            else:
                events.dismiss_quarantined(session, event_id, actor=actor())
    except LookupError:
        abort(404)
    except events.CannotApply:
        flash(_("This tap is before a final session: correct that session by hand."), "error")
    else:
        done = _("The tap is applied.") if verb == "apply" else _("The tap is dismissed.")
        flash(done, "success")
    return redirect(url_for("quarantine.index"))
