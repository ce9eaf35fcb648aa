"""Console users: who may sign in, with which role, for which sites.

The first admin comes from the command line (`telecentre-hub user add LOGIN --role admin`),
never from a default password; admins then manage the others in the console. The CLI and the
console call the same functions, which validate, change, and audit in the caller's
transaction (the caller commits).

Passwords are hashed with argon2id (`argon2-cffi`); a login that does not exist costs the
same hash as one that does, so response times do not tell which logins exist.

>>> account = create_user(session, login="marie", display_name="Marie Vidal",
...                       role="animator", sites=["murat"], password="…", actor="cli:root")
>>> authenticate(session, "marie", "…")                                # doctest: +SKIP
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.config import EMAIL_PATTERN
from hub.people import audit
from hub.rules.alerts import KINDS as ALERT_KINDS
from hub.store.models import Site, User, UserSite, utcnow

ROLES = ("admin", "department", "animator")
LANGUAGES = ("fr", "en")
MIN_PASSWORD = 10
_LOGIN_RE = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")
_EMAIL_RE = re.compile(EMAIL_PATTERN)

_hasher = PasswordHasher()
#: Verified against when the login is unknown, so that it costs the same time: the hash of a
#: random password nobody kept, made with the hasher's parameters (written here: hashing one
#: at import cost every `telecentre-hub` command half a second; an unknown login is refused
#: whatever password matches it).
_DUMMY_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$+OPsr+Me/FbKhQ/1T4bTCg"
    "$2kFINlrLkRMgqDmamKPWAl3bk40rvrUvmOlFY/Zse2s"
)


def N_(message: str) -> str:
    """Marks a message for the console's catalog without translating it here (the console
    translates `Invalid.message` with its `params`; the CLI prints it in English)."""
    return message


class Invalid(ValueError):
    """A refused value: `field` names the form field, `message` is the catalog's msgid with
    `%(name)s` placeholders filled from `params`."""

    def __init__(self, field: str, message: str, **params: Any) -> None:
        self.field = field
        self.message = message
        self.params = params
        super().__init__(f"{field}: {message % params}" if params else f"{field}: {message}")


@dataclass(frozen=True)
class Account:
    """A user as the console and the CLI see it (no password hash)."""

    id: int
    login: str
    display_name: str
    role: str
    sites: tuple[str, ...]
    active: bool
    language: str | None
    last_login_at: datetime | None
    session_nonce: str
    email: str | None = None
    #: The alert kinds they get (their choice, or their role's default).
    alert_kinds: tuple[str, ...] = ()
    quiet_start: time | None = None
    quiet_end: time | None = None

    @property
    def all_sites(self) -> bool:
        """Admins and the department see every site; an animator only its own."""
        return self.role != "animator"


def default_alert_kinds(role: str) -> tuple[str, ...]:
    """Until they choose: an animator hears of everything at their sites; the department
    and admins, who see every site, of nothing (the department's address has it all)."""
    return ALERT_KINDS if role == "animator" else ()


def chosen_alert_kinds(user: User) -> tuple[str, ...]:
    if user.alert_kinds is None:
        return default_alert_kinds(user.role)
    return tuple(kind for kind in ALERT_KINDS if kind in user.alert_kinds)


def _account(user: User) -> Account:
    return Account(
        id=user.id,
        login=user.login,
        display_name=user.display_name,
        role=user.role,
        sites=tuple(link.site_id for link in user.sites),
        active=user.active,
        language=user.language,
        last_login_at=user.last_login_at,
        session_nonce=user.session_nonce,
        email=user.email,
        alert_kinds=chosen_alert_kinds(user),
        quiet_start=user.quiet_start,
        quiet_end=user.quiet_end,
    )


def _check_login(login: str) -> str:
    if not _LOGIN_RE.fullmatch(login):
        raise Invalid(
            "login",
            N_("a login is 2 to 64 lowercase letters, digits, '.', '_' or '-', like 'marie.vidal'"),
        )
    return login


def check_email(email: str | None) -> str | None:
    """The address, trimmed; None for an empty one (no e-mail)."""
    address = (email or "").strip()
    if not address:
        return None
    if len(address) > 320 or not _EMAIL_RE.fullmatch(address):
        raise Invalid("email", N_("%(email)s is not an e-mail address"), email=address)
    return address


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise Invalid(
            "password", N_("a password has at least %(count)d characters"), count=MIN_PASSWORD
        )


def _check_role_and_sites(session: Session, role: str, sites: Sequence[str]) -> list[str]:
    if role not in ROLES:
        raise Invalid("role", N_("the role is admin, department or animator"))
    wanted = sorted(set(sites))
    if role != "animator":
        if wanted:
            raise Invalid("sites", N_("only an animator is given sites: the others see every site"))
        return []
    if not wanted:
        raise Invalid("sites", N_("an animator runs at least one site"))
    known = set(session.scalars(select(Site.id).where(Site.id.in_(wanted))))
    missing = [site for site in wanted if site not in known]
    if missing:
        raise Invalid("sites", N_("there is no site %(sites)s"), sites=", ".join(missing))
    return wanted


def _get(session: Session, login: str) -> User:
    user = session.scalars(select(User).where(User.login == login)).one_or_none()
    if user is None:
        raise Invalid("login", N_("there is no user %(login)s"), login=login)
    return user


def _snapshot(user: User) -> dict[str, Any]:
    return {
        "display_name": user.display_name,
        "role": user.role,
        "sites": [link.site_id for link in user.sites],
        "active": user.active,
    }


def create_user(
    session: Session,
    *,
    login: str,
    display_name: str,
    role: str,
    sites: Sequence[str] = (),
    password: str,
    actor: str,
    language: str | None = None,
    email: str | None = None,
) -> Account:
    login = _check_login(login.strip().lower())
    if session.scalars(select(User.id).where(User.login == login)).first() is not None:
        raise Invalid("login", N_("the login %(login)s is taken"), login=login)
    wanted = _check_role_and_sites(session, role, sites)
    check_password(password)
    address = check_email(email)
    user = User(
        login=login,
        email=address,
        display_name=display_name.strip() or login,
        role=role,
        active=True,
        password_hash=_hasher.hash(password),
        session_nonce=secrets.token_hex(8),
        language=language,
        sites=[UserSite(site_id=site) for site in wanted],
    )
    session.add(user)
    session.flush()
    audit.record(session, actor, "user_created", after=_snapshot(user), login=login)
    if address is not None:
        audit.record(session, actor, "user_email_set", login=login, email=address)
    return _account(user)


def update_user(
    session: Session,
    login: str,
    *,
    actor: str,
    display_name: str | None = None,
    role: str | None = None,
    sites: Sequence[str] | None = None,
) -> Account:
    """Change what is given (None: unchanged); a role other than animator drops the sites."""
    user = _get(session, login)
    before = _snapshot(user)
    new_role = role if role is not None else user.role
    new_sites = (
        sites
        if sites is not None
        else ([link.site_id for link in user.sites] if new_role == "animator" else [])
    )
    wanted = _check_role_and_sites(session, new_role, new_sites)
    if display_name is not None:
        user.display_name = display_name.strip() or user.login
    user.role = new_role
    if wanted != [link.site_id for link in user.sites]:
        user.sites = [UserSite(site_id=site) for site in wanted]
    session.flush()
    after = _snapshot(user)
    if after != before:
        audit.record(session, actor, "user_changed", before=before, after=after, login=login)
    return _account(user)


def set_email(session: Session, login: str, email: str | None, *, actor: str) -> Account:
    """Where the user's alerts go (None or empty: no e-mail), audited when it changes."""
    user = _get(session, login)
    address = check_email(email)
    if address != user.email:
        audit.record(
            session,
            actor,
            "user_email_set",
            login=login,
            before={"email": user.email},
            after={"email": address},
        )
        user.email = address
        session.flush()
    return _account(user)


def set_alert_choices(
    session: Session,
    user_id: int,
    *,
    kinds: Sequence[str],
    quiet_start: time | None,
    quiet_end: time | None,
) -> None:
    """The user's own choice of alerts and quiet hours (not audited: it changes nothing for
    others). Quiet hours go by pairs: a start without an end is refused."""
    unknown = sorted(set(kinds) - set(ALERT_KINDS))
    if unknown:
        raise Invalid("kinds", N_("there is no alert %(kinds)s"), kinds=", ".join(unknown))
    if (quiet_start is None) != (quiet_end is None):
        raise Invalid("quiet_end", N_("give both the start and the end of the quiet hours"))
    user = session.get(User, user_id)
    if user is None:
        raise Invalid("kinds", N_("there is no such user"))
    user.alert_kinds = [kind for kind in ALERT_KINDS if kind in kinds]
    user.quiet_start = quiet_start
    user.quiet_end = quiet_end
    session.flush()


def set_password(session: Session, login: str, password: str, *, actor: str) -> Account:
    """A new password also ends the user's open sessions (a new session nonce)."""
    user = _get(session, login)
    check_password(password)
    user.password_hash = _hasher.hash(password)
    user.session_nonce = secrets.token_hex(8)
    session.flush()
    audit.record(session, actor, "user_password_set", login=login)
    return _account(user)


def end_sessions(session: Session, login: str) -> None:
    """Signing out ends every session of the user, this one included: the console's sessions
    are signed cookies, which a copy would otherwise keep valid after the logout."""
    _get(session, login).session_nonce = secrets.token_hex(8)
    session.flush()


def set_active(session: Session, login: str, active: bool, *, actor: str) -> Account:
    """Disabling ends the user's sessions at their next request; the user stays in the log."""
    user = _get(session, login)
    if user.active != active:
        user.active = active
        user.session_nonce = secrets.token_hex(8)
        session.flush()
        audit.record(
            session,
            actor,
            "user_enabled" if active else "user_disabled",
            before={"active": not active},
            after={"active": active},
            login=login,
        )
    return _account(user)


def set_language(session: Session, user_id: int, language: str | None) -> None:
    """The user's own choice of language (not audited: it changes nothing for others)."""
    if language is not None and language not in LANGUAGES:
        raise Invalid("language", N_("the language is fr or en"))
    user = session.get(User, user_id)
    if user is not None:
        user.language = language


def authenticate(session: Session, login: str, password: str) -> Account | None:
    """The active account whose password this is, its last login set to now; None otherwise."""
    user = session.scalars(select(User).where(User.login == login.strip().lower())).one_or_none()
    try:
        _hasher.verify(user.password_hash if user is not None else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.last_login_at = utcnow()
    session.flush()
    return _account(user)


def account(session: Session, user_id: int) -> Account | None:
    user = session.get(User, user_id)
    return _account(user) if user is not None else None


def account_by_login(session: Session, login: str) -> Account | None:
    user = session.scalars(select(User).where(User.login == login)).one_or_none()
    return _account(user) if user is not None else None


def accounts(session: Session) -> list[Account]:
    return [_account(user) for user in session.scalars(select(User).order_by(User.login))]
