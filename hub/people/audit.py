"""The audit log: who changed what by hand, when, and the values before and after.

Every change staff make (console, CLI, API) writes one entry in the same transaction as the
change, so the log never holds a change that rolled back, nor misses one that committed.

>>> record(session, "user:marie", "user_disabled", before={"active": True},
...        after={"active": False}, login="paul")                       # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, literal, or_, select
from sqlalchemy.orm import Session

from hub.store.models import AuditEntry, AuditSite, User


def record(
    session: Session,
    actor: str,
    action: str,
    *,
    site: str | None = None,
    sites: Collection[str] = (),
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    **detail: Any,
) -> AuditEntry:
    """Add an entry to the caller's transaction. `actor` is `user:<login>`, `token:<name>`,
    `cli:<os user>` or `api:<role>`; `detail` says what the change was about. `sites`: every
    site whose doors the change opens or closes (a badge given: all of them), so that each
    of their animators sees it; they are kept in `detail["sites"]` too."""
    body: dict[str, Any] = dict(detail)
    if sites:
        body["sites"] = sorted(sites)
    if before is not None:
        body["before"] = before
    if after is not None:
        body["after"] = after
    entry = AuditEntry(actor=actor, action=action, site_id=site, detail=body)
    session.add(entry)
    session.flush()
    session.add_all(AuditSite(entry_id=entry.id, site_id=one) for one in sorted(set(sites)))
    session.flush()
    return entry


def _of_sites(sites: Collection[str]) -> ColumnElement[bool]:
    """Entries of one of `sites`: their own site, or a site the change affects."""
    affected = select(AuditSite.entry_id).where(AuditSite.site_id.in_(sorted(sites)))
    return or_(AuditEntry.site_id.in_(sorted(sites)), AuditEntry.id.in_(affected))


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def entries(
    session: Session,
    *,
    sites: Collection[str] | None,
    site: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    page: int = 1,
    per_page: int = 50,
) -> AuditPage:
    """Newest first. `sites`: what the reader may see (None: everything); a reader limited to
    some sites sees only the entries of those sites, never the network-wide ones."""
    query = select(AuditEntry)
    if sites is not None:
        query = query.where(_of_sites(sites))
    if site is not None:
        query = query.where(_of_sites([site]))
    if actor:
        # By login or by name: the page shows names ("Léa Martin"), the log keeps logins.
        named = select(literal("user:") + User.login).where(
            User.display_name.contains(actor, autoescape=True)
        )
        query = query.where(
            or_(AuditEntry.actor.contains(actor, autoescape=True), AuditEntry.actor.in_(named))
        )
    if action:
        query = query.where(AuditEntry.action == action)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if until is not None:
        query = query.where(AuditEntry.at < until)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = max(1, page)
    rows = session.scalars(
        query.order_by(AuditEntry.id.desc()).offset((page - 1) * per_page).limit(per_page)
    )
    return AuditPage(list(rows), total, page, per_page)


def actions(session: Session, sites: Collection[str] | None = None) -> list[str]:
    """The actions of the entries a reader may see (`sites` as for `entries`), for a
    filter's choices: an animator is not told what happens only elsewhere."""
    query = select(AuditEntry.action).distinct().order_by(AuditEntry.action)
    if sites is not None:
        query = query.where(_of_sites(sites))
    return list(session.scalars(query))
