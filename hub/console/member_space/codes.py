"""A one-time code for a member without e-mail, made by staff from the member's page and
printed or shown: the member types it on the member space's sign-in page. Staff's, so
behind the staff sign-in; the code is shown once, never stored in clear."""

from __future__ import annotations

from flask import Blueprint, abort, render_template
from flask.typing import ResponseReturnValue

from hub.console.access import actor, login_required
from hub.console.member_space.forms import ConfirmForm
from hub.console.member_space.signin import public_url
from hub.console.services import console
from hub.people import member_access

bp = Blueprint("member_codes", __name__, url_prefix="/members")


@bp.post("/<member_id>/one-time-code")
@login_required
def issue(member_id: str) -> ResponseReturnValue:
    if not ConfirmForm().validate_on_submit():
        abort(400)
    with console().sessions.begin() as session:
        issued = member_access.issue_code(session, member_id, actor=actor(), now=console().clock())
    if issued is None:
        abort(404)
    return render_template(
        "member_space/code.html", issued=issued, where=public_url("member_signin.start")
    )
