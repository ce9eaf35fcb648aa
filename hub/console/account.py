"""The "My account" page: where each user's alerts go, which ones, and their quiet hours. Every user
may change their own (the e-mail change is audited, as an admin's is)."""

from __future__ import annotations

import socket

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from hub.console.access import actor, login_required, me, site_names
from hub.console.forms.account import AccountForm, TestMailForm
from hub.console.i18n import gettext as _
from hub.console.services import console
from hub.mail import queue
from hub.mail.render import TEST_TEMPLATES
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
        test_form=TestMailForm(),
        account=account,
        sites=list(site_names().values()),
    )


@bp.post("/test")
@login_required
def test_mail() -> ResponseReturnValue:
    """A test e-mail to one's own address, through the queue as alerts go: one waiting at a
    time, so the button cannot flood a mailbox."""
    account = me().account
    if not TestMailForm().validate_on_submit():
        abort(400)
    if account.email is None:
        flash(_("Give an e-mail address first."), "error")
        return redirect(url_for("account.index"))
    thread = f"test:{account.login}"
    with console().sessions.begin() as session:
        if account.email not in queue.unsent_in_thread(session, thread):
            subject, body = TEST_TEMPLATES.render("test.txt", host=socket.getfqdn())
            queue.enqueue(session, account.email, subject, body, thread=thread)
    flash(_("A test e-mail leaves for %(email)s: it should arrive within a few minutes.",
            email=account.email), "success")  # fmt: skip
    return redirect(url_for("account.index"))
