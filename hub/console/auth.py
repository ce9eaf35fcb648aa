"""Signing in and out, and the language switch.

Sessions are Flask's signed cookie (HttpOnly, SameSite=Lax, Secure when configured), for at
most the idle timeout after the last page the user asked for; the board's live stream does
not keep a session alive by itself.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_user, logout_user

from hub.console.access import ConsoleUser
from hub.console.errors import error_page
from hub.console.forms.auth import LoginForm
from hub.console.i18n import LANGUAGES
from hub.console.i18n import gettext as _
from hub.console.ratelimit import LoginGuard
from hub.console.services import console
from hub.people import users
from hub.people.users import N_
from hub.web.text_gate import UnprintableText
from telecentre.text import unprintable

bp = Blueprint("auth", __name__)

GUARD = "telecentre.console.login_guard"


def _safe_next(target: str | None) -> str:
    """Only a path of this site: `next=https://elsewhere` must not redirect away."""
    if target and target.startswith("/") and not target.startswith("//"):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return url_for("board.index")


_TOO_MANY = N_("Too many failed attempts: wait a minute before trying again.")


def _guard() -> LoginGuard:
    guard: LoginGuard = current_app.extensions[GUARD]
    return guard


@bp.errorhandler(UnprintableText)
def _unprintable(error: UnprintableText) -> ResponseReturnValue:
    """A sign-in holding a NUL or a control character is a failed attempt: counted, so that
    a script sending such logins meets the same limit (429) as one guessing passwords."""
    if request.endpoint != "auth.login":
        return error_page(error)
    login_name = "".join(c for c in request.form.get("login", "") if unprintable(c) is None)
    form = LoginForm(formdata=None, data={"login": login_name})
    if _guard().attempt(login_name, request.remote_addr or "?") is None:
        form.password.errors = [_(_TOO_MANY)]
        status = 429
    else:
        form.password.errors = [_("Wrong login or password.")]
        status = 400
    return render_template("console/auth/login.html", form=form), status


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    if current_user.is_authenticated:
        return redirect(url_for("board.index"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        login_name = form.login.data or ""
        attempt = _guard().attempt(login_name, request.remote_addr or "?")
        if attempt is None:
            form.password.errors.append(_(_TOO_MANY))
            status = 429
        else:
            with console().sessions.begin() as db:
                account = users.authenticate(db, login_name, form.password.data or "")
            if account is None:
                form.password.errors.append(_("Wrong login or password."))
                status = 401
            else:
                _guard().succeeded(attempt)
                session.clear()
                login_user(ConsoleUser(account))
                session.permanent = True
                flash(_("Welcome, %(name)s.", name=account.display_name), "success")
                return redirect(_safe_next(request.args.get("next")))
    return render_template("console/auth/login.html", form=form), status


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    if current_user.is_authenticated:
        with console().sessions.begin() as db:
            users.end_sessions(db, current_user.login)
    logout_user()
    language = session.get("language")
    session.clear()
    if language:
        session["language"] = language
    flash(_("You are signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.post("/language")
def language() -> ResponseReturnValue:
    chosen = request.form.get("language")
    if chosen in LANGUAGES:
        session["language"] = chosen
        if current_user.is_authenticated:
            with console().sessions.begin() as db:
                users.set_language(db, current_user.account.id, chosen)
    return redirect(_safe_next(request.form.get("next")))
