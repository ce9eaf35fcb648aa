"""A one-time code for a member without e-mail, made by staff from the member's page and
handed over in person: the member types it on the member space's sign-in page. Staff's, so
behind the staff sign-in; the code is shown once, never stored in clear.

A code opens everything of the member's own space (their invoices, their stays at every
site), so an animator may make one only for a member met at their sites
(`member_access.met_at`): otherwise it would open what the staff pages refuse them.
"""

from __future__ import annotations

from flask import Blueprint, abort, render_template
from flask.typing import ResponseReturnValue

from hub.console.access import actor, allowed_sites, login_required, me
from hub.console.member_space.forms import ConfirmForm
from hub.console.member_space.signin import public_url
from hub.console.services import console
from hub.people import member_access

bp = Blueprint("member_codes", __name__, url_prefix="/members")


def _sites() -> list[str] | None:
    """The signed-in staff's sites; None for every site (department, admin)."""
    return None if me().account.all_sites else allowed_sites()


@bp.app_context_processor
def _may_make_code() -> dict[str, object]:
    def may_make_code(member_id: str) -> bool:
        """For the member's page: whether to show the button."""
        with console().sessions() as session:
            return member_access.met_at(session, member_id, _sites())

    return {"may_make_code": may_make_code}


@bp.post("/<member_id>/one-time-code")
@login_required
def issue(member_id: str) -> ResponseReturnValue:
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        with console().sessions.begin() as session:
            issued = member_access.issue_code(
                session, member_id, actor=actor(), sites=_sites(), now=console().clock()
            )
    except member_access.NotMet:
        return render_template("member_space/code_refused.html", member_id=member_id), 403
    if issued is None:
        abort(404)
    return render_template(
        "member_space/code.html", issued=issued, where=public_url("member_signin.start")
    )
