"""The "My account" page: where each user's alerts go, which ones, and their quiet hours. Every user
may change their own (the e-mail change is audited, as an admin's is)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from hub.console.access import actor, login_required, me, site_names
from hub.console.forms.account import AccountForm
from hub.console.services import console
from hub.people import users
from hub.people.users import Invalid

bp = Blueprint("account", __name__, url_prefix="/account")


@bp.route("/", methods=["GET", "POST"])
@login_required
def index() -> ResponseReturnValue:
    account = me().account
    form = AccountForm(
        data={
            "email": account.email or "",
            "kinds": list(account.alert_kinds),
            "quiet_start": account.quiet_start,
            "quiet_end": account.quiet_end,
        }
    )
    if form.validate_on_submit():
        try:
            with console().sessions.begin() as session:
                users.set_email(session, account.login, form.email.data, actor=actor())
                users.set_alert_choices(
                    session,
                    account.id,
                    kinds=form.kinds.data or [],
                    quiet_start=form.quiet_start.data,
                    quiet_end=form.quiet_end.data,
                )
        except Invalid as refused:
            # The hub names the field it refuses: the error shows beside it.
            field = getattr(form, refused.field, None) or form.email
            field.errors = [*field.errors, _(refused.message, **refused.params)]
        else:
            flash(_("Your alert choices are saved."), "success")
            return redirect(url_for("account.index"))
    return render_template(
        "console/account/index.html",
        form=form,
        account=account,
        sites=list(site_names().values()),
    )
