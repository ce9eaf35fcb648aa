"""Who is calling: a bearer token (a bootstrap token of the config, or one made in the
console or with `telecentre-hub token add`, `hub.people.api_tokens`), and the sites its role may
see.

`department` and `admin` see every site; `animator:<site>` sees its own site only. A call
naming another site is refused (403) before anything is read, and list calls are narrowed to
the animator's site, so no row of another site ever leaves the hub on such a token.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import g, request
from sqlalchemy import select

from hub.api import throttle
from hub.api.errors import ApiError
from hub.api.services import services
from hub.config import NamedToken
from hub.people import api_tokens
from hub.store.models import Site

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="telecentre"'}


@dataclass(frozen=True)
class Access:
    role: str
    #: Who the audit names (`api:<name>`): the token's name, never the token.
    name: str

    @property
    def site(self) -> str | None:
        """The one site of an animator; None for roles that see every site."""
        kind, _, site = self.role.partition(":")
        return site if kind == "animator" else None


def authenticate() -> None:
    """Before every call but health: an unknown or missing token gets nothing, and an
    address that failed too often gets 429 before its token is looked at."""
    throttle.refuse_if_locked_out(services().failed_auth)
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "this call needs an 'Authorization: Bearer <token>' header", _CHALLENGE)
    found = services().token_of(token.strip())
    if found is None:
        with services().sessions.begin() as session:
            made = api_tokens.token_by_secret(session, token.strip())
            if made is not None:
                found = NamedToken(role=made.role, name=f"token:{made.name}")
    if found is None:
        services().failed_auth.failed(throttle.client_address())
        raise ApiError(401, "this token is not known to the hub", _CHALLENGE)
    g.access = Access(found.role, found.name)


def access() -> Access:
    current: Access = g.access
    return current


def require_all_sites(what: str) -> None:
    """Refuse an animator token what only the department (or an admin) may do."""
    if access().site is not None:
        raise ApiError(403, f"{what} needs a department or admin token")


def sites_for(requested: str | None) -> list[str] | None:
    """The sites a report may read: the one asked for, or all the token may see (None: all).

    Another site than an animator's own is refused whether it exists or not, so the answer
    does not even tell which sites there are.
    """
    own = access().site
    if own is not None:
        if requested is not None and requested != own:
            raise ApiError(403, f"this token may only read site '{own}'")
        return [own]
    if requested is None:
        return None
    with services().sessions() as session:
        if session.scalar(select(Site.id).where(Site.id == requested)) is None:
            raise ApiError(404, f"there is no site '{requested}'")
    return [requested]
