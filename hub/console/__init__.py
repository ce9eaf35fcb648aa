"""The staff console: server-rendered pages for animators, the department and admins, served
by the hub's app at `/` beside the API (`/api/v1`). `hub.web.app.create_app` calls
`init_console`; see `hub/console/README.md` for how to add a page.

One blueprint per area (`auth`, `board`, `admin`, `audit`, and the members, sessions, sites
and reports pages), each with its templates in `templates/console/<area>/` extending
`console/base.html`. Views stay thin: read the form, call the hub module that owns the rule
(the same one the API and the CLI call), render.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

from flask import Flask, Response, flash, redirect, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from flask_login import LoginManager, current_user, logout_user
from flask_wtf.csrf import CSRFProtect

from hub.console import (
    account,
    admin,
    audit,
    auth,
    billing,
    board,
    members,
    quarantine,
    reports,
    sessions,
    sites,
)
from hub.console.access import SEEN, init_login
from hub.console.i18n import gettext as _
from hub.console.i18n import init_i18n
from hub.console.member_space import init_member_space
from hub.console.navigation import init_navigation
from hub.console.ratelimit import LoginGuard
from hub.console.services import EXTENSION, ConsoleServices
from hub.people.users import N_

HERE = Path(__file__).resolve().parent
#: The app's own folders (`create_app`): `/static/…` and the templates are the console's.
STATIC_FOLDER = str(HERE / "static")
TEMPLATE_FOLDER = str(HERE / "templates")
#: Blueprints of the console, in the order of the navigation. console-pages adds its own here.
BLUEPRINTS = (
    auth.bp,
    board.bp,
    members.bp,
    sessions.bp,
    reports.bp,
    billing.bp,
    sites.bp,
    admin.bp,
    audit.bp,
    account.bp,
    quarantine.bp,
)
#: Requests a page makes by itself (a board left open, the members page's polls): they do not
#: count as activity, so they never keep a session alive past the idle timeout.
PASSIVE_ENDPOINTS = {"board.stream", "members.unknown_badges", "members.doors"}


def _idle_timeout(app: Flask) -> ResponseReturnValue | None:
    if request.endpoint == "static" or not current_user.is_authenticated:
        return None
    now = int(time.time())
    seen = session.get(SEEN, now)
    idle: timedelta = app.permanent_session_lifetime
    passive = request.endpoint in PASSIVE_ENDPOINTS
    if now - int(seen) > idle.total_seconds():
        logout_user()
        session.clear()
        flash(_("Your session ended after a while without activity: please sign in again."), "info")
        if passive and request.headers.get("HX-Request"):
            # A poll: htmx takes the whole page to the login form, not just the polled part.
            return Response(status=204, headers={"HX-Redirect": url_for("auth.login")})
        if passive:
            return None  # the board's stream tells its page itself (signed out)
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    if not passive:
        session[SEEN] = now
    return None


def init_console(
    app: Flask,
    services: ConsoleServices,
    *,
    secret_key: bytes,
    idle_timeout: timedelta = timedelta(minutes=30),
    secure_cookies: bool = False,
    api_prefix: str = "/api/v1",
) -> None:
    """Register the console on `app`. Every POST outside `api_prefix` needs its CSRF token;
    the API's calls carry a bearer token rather than a cookie, so no forged form can ride on
    them."""
    app.config.update(
        SECRET_KEY=secret_key,
        SESSION_COOKIE_NAME="telecentre_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure_cookies,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=secure_cookies,
        PERMANENT_SESSION_LIFETIME=idle_timeout,
        # The session is written when a page is asked for (`_idle_timeout`), not by the
        # board's stream: a board left open does not keep its session alive.
        SESSION_REFRESH_EACH_REQUEST=False,
        WTF_CSRF_TIME_LIMIT=None,  # as long as the session
        WTF_CSRF_CHECK_DEFAULT=False,  # checked below, outside the API
    )
    app.extensions[EXTENSION] = services
    app.extensions[auth.GUARD] = LoginGuard()
    init_i18n(app)
    init_navigation(app)
    login_manager = LoginManager(app)
    login_manager.login_message = N_("Please sign in to see this page.")
    login_manager.localize_callback = gettext
    init_login(login_manager)
    csrf = CSRFProtect(app)

    @app.before_request
    def _check_csrf() -> None:
        if not (request.path == api_prefix or request.path.startswith(api_prefix + "/")):
            csrf.protect()

    app.before_request(lambda: _idle_timeout(app))
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    init_member_space(app)
