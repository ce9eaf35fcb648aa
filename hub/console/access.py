"""Who is signed in, and what they may see: the helpers every console view uses.

- `@roles_required("admin")` (or several roles) on a view: anonymous → login page, another
  role → 403. `@login_required` (Flask-Login's) for any signed-in user.
- `allowed_sites()`: the ids of the sites the user may see (every site for admin and
  department, its own for an animator). Pass it to the hub module's query.
- `require_site(site_id)`: 404 unless the user may see that site (the same answer whether
  the site exists or not, so an animator learns nothing of the others).
- `actor()`: `user:<login>`, for `hub.people.audit.record` and the hub modules' `actor=`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

import flask_login
from flask import abort, g
from flask_login import LoginManager, UserMixin, current_user

from hub.console.services import console
from hub.people import users
from hub.people.names import site_labels

#: The session's key for when its user last asked for a page (`time.time()`): the idle
#: timeout counts from it.
SEEN = "seen"

P = ParamSpec("P")
R = TypeVar("R")

__all__ = [
    "SEEN",
    "ConsoleUser",
    "actor",
    "allowed_sites",
    "login_required",
    "me",
    "require_site",
    "roles_required",
    "site_names",
]


def login_required(view: Callable[P, R]) -> Callable[P, R]:
    """Flask-Login's `login_required`, typed: anonymous → the login page."""
    guarded: Callable[P, R] = flask_login.login_required(view)
    return guarded


class ConsoleUser(UserMixin):  # type: ignore[misc]
    """The signed-in person (Flask-Login's user), from `hub.people.users.Account`."""

    def __init__(self, account: users.Account) -> None:
        self.account = account

    def get_id(self) -> str:
        # The nonce changes with the password and on disabling: older sessions stop working.
        return f"{self.account.id}:{self.account.session_nonce}"

    @property
    def is_active(self) -> bool:
        return self.account.active

    @property
    def login(self) -> str:
        return self.account.login

    @property
    def display_name(self) -> str:
        return self.account.display_name

    @property
    def role(self) -> str:
        return self.account.role

    @property
    def language(self) -> str | None:
        return self.account.language


def load_user(user_id: str) -> ConsoleUser | None:
    number, _, nonce = user_id.partition(":")
    if not number.isdigit():
        return None
    with console().sessions() as session:
        found = users.account(session, int(number))
    if found is None or not found.active or found.session_nonce != nonce:
        return None
    return ConsoleUser(found)


def init_login(login_manager: LoginManager) -> None:
    login_manager.user_loader(load_user)
    login_manager.login_view = "auth.login"
    login_manager.login_message_category = "info"


def me() -> ConsoleUser:
    """The signed-in user (only in views behind `login_required`)."""
    user: ConsoleUser = current_user._get_current_object()
    return user


def roles_required(*roles: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Signed in (else the login page) and of one of `roles` (else 403)."""

    def decorate(view: Callable[P, R]) -> Callable[P, R]:
        @wraps(view)
        def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
            if me().role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return login_required(wrapped)

    return decorate


def allowed_sites() -> list[str]:
    """The ids of the sites the signed-in user may see, in name order."""
    if "allowed_sites" not in g:
        account = me().account
        with console().sessions() as session:
            names = site_labels(session, None if account.all_sites else account.sites)
        g.allowed_sites = names
    return list(g.allowed_sites)


def site_names() -> dict[str, str]:
    """`{id: name}` of `allowed_sites()`."""
    allowed_sites()
    return dict(g.allowed_sites)


def require_site(site_id: str) -> str:
    """`site_id` if the user may see it; 404 otherwise (whether it exists or not)."""
    if site_id not in allowed_sites():
        abort(404)
    return site_id


def actor() -> str:
    return f"user:{me().login}"
