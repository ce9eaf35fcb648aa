"""API tokens made in the console or the CLI, beside the bootstrap tokens of hub.yaml.

A token is shown once, when it is made, and only its SHA-256 is kept. A token is 32 random
bytes (256 bits), so a fast hash is enough: nobody can search that space, and a slow hash
would be paid on every API call. A lookup by hash does not compare secrets byte by byte, so
it tells nothing about how much of a guess was right. Revoking takes effect at the next call.

>>> made = add_token(session, "compta", "department", actor="user:marie")
>>> made.secret                                      # printed once, never stored
'tc_…'
>>> role_of(session, made.secret)
'department'
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.people import audit
from hub.people.users import N_, Invalid
from hub.store.models import ApiToken, Site, utcnow
from telecentre.wire import ID_PATTERN

PREFIX = "tc_"
_ROLE_RE = re.compile(rf"(department|admin|animator:{ID_PATTERN[1:-1]})")
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}")
#: `last_used_at` is written at most this often per token, not on every call.
LAST_USED_PRECISION = timedelta(minutes=1)


@dataclass(frozen=True)
class NewToken:
    name: str
    role: str
    #: The token itself: shown once.
    secret: str


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_role(session: Session, role: str) -> str:
    if not _ROLE_RE.fullmatch(role):
        raise Invalid("role", N_("the role is department, admin or animator:<site id>"))
    kind, _, site = role.partition(":")
    if kind == "animator" and session.get(Site, site) is None:
        raise Invalid("role", N_("there is no site %(sites)s"), sites=site)
    return role


def add_token(session: Session, name: str, role: str, *, actor: str) -> NewToken:
    name = name.strip()
    if not _NAME_RE.fullmatch(name):
        raise Invalid(
            "name", N_("a token's name is 1 to 100 letters, digits, spaces, '.', '_' or '-'")
        )
    if session.scalars(select(ApiToken.id).where(ApiToken.name == name)).first() is not None:
        raise Invalid("name", N_("there is already a token named %(name)s"), name=name)
    check_role(session, role)
    secret = PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(name=name, token_hash=_digest(secret), role=role, created_by=actor))
    session.flush()
    audit.record(
        session,
        actor,
        "token_created",
        site=role.partition(":")[2] or None,
        name=name,
        after={"role": role},
    )
    return NewToken(name, role, secret)


def revoke_token(session: Session, name: str, *, actor: str) -> None:
    token = session.scalars(select(ApiToken).where(ApiToken.name == name)).one_or_none()
    if token is None:
        raise Invalid("name", N_("there is no token named %(name)s"), name=name)
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit.record(
            session,
            actor,
            "token_revoked",
            site=token.role.partition(":")[2] or None,
            name=name,
            before={"revoked": False},
            after={"revoked": True},
        )


def tokens(session: Session) -> list[ApiToken]:
    """Every token, revoked ones included (newest first): the list shows when each was used."""
    return list(session.scalars(select(ApiToken).order_by(ApiToken.created_at.desc())))


def token_by_secret(session: Session, secret: str) -> ApiToken | None:
    """The live token whose secret this is; its last use noted (to the minute)."""
    if not secret.startswith(PREFIX):
        return None
    token = session.scalars(
        select(ApiToken).where(ApiToken.token_hash == _digest(secret))
    ).one_or_none()
    if token is None or token.revoked_at is not None:
        return None
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_PRECISION:
        token.last_used_at = now
    return token
