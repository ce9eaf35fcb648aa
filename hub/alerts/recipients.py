"""Who hears of an incident: the site's animators who chose its kind, department and admin
users who chose it too, and the department's address from hub.yaml (every alert, any hour)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.people.users import chosen_alert_kinds
from hub.store.models import User, UserSite


@dataclass(frozen=True)
class Recipient:
    address: str
    quiet_start: time | None = None
    quiet_end: time | None = None


def recipients(
    session: Session, site_id: str, kind: str, department_email: str | None
) -> list[Recipient]:
    """Each address once (an address written twice, in any case, gets one e-mail)."""
    animators = select(UserSite.user_id).where(UserSite.site_id == site_id)
    users = session.scalars(
        select(User)
        .where(User.active.is_(True), User.email.is_not(None))
        .where((User.role != "animator") | User.id.in_(animators))
        .order_by(User.id)
    )
    found: dict[str, Recipient] = {}
    if department_email is not None:
        found[department_email.lower()] = Recipient(department_email)
    for user in users:
        if user.email is not None and kind in chosen_alert_kinds(user):
            found.setdefault(
                user.email.lower(), Recipient(user.email, user.quiet_start, user.quiet_end)
            )
    return list(found.values())
