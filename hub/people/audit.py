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

from sqlalchemy import func, literal, or_, select
from sqlalchemy.orm import Session

from hub.store.models import AuditEntry, User


def record(
    session: Session,
    actor: str,
    action: str,
    *,
    site: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    **detail: Any,
) -> AuditEntry:
    """Add an entry to the caller's transaction. `actor` is `user:<login>`, `token:<name>`,
    `cli:<os user>` or `api:<role>`; `detail` says what the change was about."""
    body: dict[str, Any] = dict(detail)
    if before is not None:
        body["before"] = before
    if after is not None:
        body["after"] = after
    entry = AuditEntry(actor=actor, action=action, site_id=site, detail=body)
    session.add(entry)
    session.flush()
    return entry


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
        query = query.where(AuditEntry.site_id.in_(sorted(sites)))
    if site is not None:
        query = query.where(AuditEntry.site_id == site)
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


def actions(session: Session) -> list[str]:
    """The actions the log holds, for a filter's choices."""
    return list(session.scalars(select(AuditEntry.action).distinct().order_by(AuditEntry.action)))
