"""Who is a signed-in member, kept apart from staff sign-in.

A member's session is its own cookie (`MEMBER_COOKIE`, HttpOnly, SameSite=Lax, Secure with
the console's), holding a random secret whose SHA-256 the store keeps with the member and
the session's end (`hub.people.member_access`). Staff sessions are Flask-Login's, in
Flask's session cookie: the member pages never read it, so a staff cookie opens none of
them, and a request carrying a member's cookie but no staff sign-in gets a 403 on every
staff page (`guard_staff_pages`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar, cast

from flask import current_app, g, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from werkzeug.exceptions import Forbidden
from werkzeug.wrappers import Response

from hub.console.services import console
from hub.people import member_access

P = ParamSpec("P")

MEMBER_COOKIE = "telecentre_member"
#: The blueprints a member may reach (their own space); every other page is staff's, but
#: signing in or out and the language switch, which are nobody's in particular.
MEMBER_BLUEPRINTS = ("member_signin", "member_space")
OPEN_ENDPOINTS = {"static", "auth.login", "auth.logout", "auth.language"}

R = TypeVar("R")


def signed_in_member() -> str | None:
    """The member whose session cookie came with this request, while it lasts."""
    if "member_id" not in g:
        token = request.cookies.get(MEMBER_COOKIE)
        found = None
        if token:
            with console().sessions() as session:
                found = member_access.member_of(session, token, now=console().clock())
        g.member_id = found
    return cast(str | None, g.member_id)


def member_id() -> str:
    """The signed-in member (only in views behind `member_required`)."""
    found = signed_in_member()
    assert found is not None, "member_required guards this view"
    return found


def member_required(view: Callable[P, R]) -> Callable[P, R | Response]:
    """A member signed in. Otherwise 403 to a staff session (it opens no member page), and
    the member sign-in page to anyone else."""

    @wraps(view)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R | Response:
        if signed_in_member() is None:
            if current_user.is_authenticated:
                raise Forbidden()
            return redirect(url_for("member_signin.start"))
        return view(*args, **kwargs)

    return wrapped


def guard_staff_pages() -> ResponseReturnValue | None:
    """403 on a staff page for a member's session without a staff sign-in."""
    endpoint = request.endpoint or ""
    blueprint = endpoint.partition(".")[0]
    if blueprint in MEMBER_BLUEPRINTS or endpoint in OPEN_ENDPOINTS or blueprint == "api":
        return None
    if signed_in_member() is not None and not current_user.is_authenticated:
        raise Forbidden()
    return None


def set_member_cookie(response: Response, token: str) -> None:
    response.set_cookie(
        MEMBER_COOKIE,
        token,
        max_age=int(member_access.SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="Lax",
        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
    )


def clear_member_cookie(response: Response) -> None:
    response.delete_cookie(
        MEMBER_COOKIE,
        httponly=True,
        samesite="Lax",
        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
    )
