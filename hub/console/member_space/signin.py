"""Signing in to the member space without a password: a one-time link by e-mail, or the
one-time code an animator handed over; signing out.

The link's page asks for one click before it signs in: mail scanners that open links to
check them would otherwise use it up. The answer to an address is the same, in what it says
and in the work done before it, whether it is a member's or not: the lookup and the mail
come after it (`links.LinkRequests`; no mail for a stranger). Requests are limited per
address typed and per client address (`MemberGuard`).
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from hub.config import HubConfig
from hub.console.member_space.access import (
    MEMBER_COOKIE,
    clear_member_cookie,
    set_member_cookie,
    signed_in_member,
)
from hub.console.member_space.forms import CodeForm, ConfirmForm, LinkForm
from hub.console.member_space.guard import GUARD, MemberGuard
from hub.console.member_space.links import link_requests
from hub.console.services import console
from hub.people import member_access

bp = Blueprint("member_signin", __name__, url_prefix="/espace-membre")


def _guard() -> MemberGuard:
    found: MemberGuard = current_app.extensions[GUARD]
    return found


def public_url(endpoint: str, **values: Any) -> str:
    """A member-space address to hand out (an e-mail, a printed code): under the hub's
    configured address (`HubConfig.links_root`), never this request's Host, which a client
    could forge to send members' links to another site."""
    config: HubConfig = current_app.config["HUB_CONFIG"]
    return config.links_root + url_for(endpoint, **values)


def _start_page(link_form: LinkForm, code_form: CodeForm, status: int = 200) -> ResponseReturnValue:
    return (
        render_template(
            "member_space/signin.html",
            link_form=link_form,
            code_form=code_form,
            minutes=int(member_access.LINK_VALID.total_seconds() // 60),
        ),
        status,
    )


@bp.get("/")
def start() -> ResponseReturnValue:
    if signed_in_member() is not None:
        return redirect(url_for("member_space.home"))
    return _start_page(LinkForm(formdata=None), CodeForm(formdata=None))


@bp.post("/")
def send_link() -> ResponseReturnValue:
    form = LinkForm()
    if not form.validate_on_submit():
        return _start_page(form, CodeForm(formdata=None), 400)
    email = (form.email.data or "").strip()
    if not _guard().ask_link(email, request.remote_addr or "?"):
        form.email.errors.append(_("Too many requests: wait a quarter of an hour, then try again."))
        return _start_page(form, CodeForm(formdata=None), 429)
    queued = link_requests(current_app).submit(
        email, link_base=public_url("member_signin.link", token=""), now=console().clock()
    )
    if not queued:
        form.email.errors.append(_("The hub is busy: try again in a minute."))
        return _start_page(form, CodeForm(formdata=None), 503)
    return render_template(
        "member_space/link_sent.html",
        email=email,
        minutes=int(member_access.LINK_VALID.total_seconds() // 60),
    )


@bp.get("/lien/<token>")
def link(token: str) -> ResponseReturnValue:
    return render_template("member_space/link.html", form=ConfirmForm(), token=token)


def _signed_in(secret: str) -> ResponseReturnValue:
    response = redirect(url_for("member_space.home"))
    set_member_cookie(response, secret)
    return response


@bp.post("/lien/<token>")
def use_link(token: str) -> ResponseReturnValue:
    if not ConfirmForm().validate_on_submit():
        return redirect(url_for("member_signin.link", token=token))
    with console().sessions.begin() as session:
        secret = member_access.redeem(session, token, kind="link", now=console().clock())
    if secret is None:
        return render_template("member_space/link_spent.html", form=LinkForm(formdata=None)), 410
    return _signed_in(secret)


@bp.post("/code")
def use_code() -> ResponseReturnValue:
    form = CodeForm()
    if not form.validate_on_submit():
        return _start_page(LinkForm(formdata=None), form, 400)
    address = request.remote_addr or "?"
    if not _guard().try_code(address):
        form.code.errors.append(_("Too many codes tried: wait a quarter of an hour."))
        return _start_page(LinkForm(formdata=None), form, 429)
    with console().sessions.begin() as session:
        secret = member_access.redeem(
            session, form.code.data or "", kind="code", now=console().clock()
        )
    if secret is None:
        form.code.errors.append(
            _("This code is wrong, used or expired. Ask an animator for a new one.")
        )
        return _start_page(LinkForm(formdata=None), form, 400)
    return _signed_in(secret)


@bp.post("/deconnexion")
def sign_out() -> ResponseReturnValue:
    if not ConfirmForm().validate_on_submit():
        abort(400)
    token = request.cookies.get(MEMBER_COOKIE)
    if token:
        with console().sessions.begin() as session:
            member_access.end_session(session, token, now=console().clock())
    flash(_("You are signed out of your member space."), "info")
    response = redirect(url_for("member_signin.start"))
    clear_member_cookie(response)
    return response
