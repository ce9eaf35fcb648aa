"""A member's lost badge, stopped by the member themselves: revoked at once (the doors refuse
it from their next list, published by the caller after commit), audited, and told to the
animators of the sites the member used lately, who may see someone try it at the door.

>>> with sessions.begin() as session:                                      # doctest: +SKIP
...     changed = report_lost(session, "M0001", "04A2B3C4D5E6F7", department_email=None)
>>> publish_access_lists(changed)
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.doors.enrolment import revoke_badge
from hub.mail.queue import enqueue
from hub.mail.render import Templates
from hub.people.audit import record
from hub.people.member_access import ACTOR
from hub.people.members import full_name
from hub.people.names import site_labels
from hub.store.models import Badge, Member, PresenceSession, User, UserSite, utcnow

#: The member's sites: those of their stays this far back.
RECENT = timedelta(days=92)
TEMPLATES = Templates(Path(__file__).resolve().parent / "templates")


def recent_sites(session: Session, member_id: str, now: datetime) -> list[str]:
    return sorted(
        session.scalars(
            select(PresenceSession.site_id)
            .where(PresenceSession.member_id == member_id, PresenceSession.start >= now - RECENT)
            .distinct()
        )
    )


def _animators(session: Session, sites: list[str]) -> list[str]:
    found = session.scalars(
        select(User.email)
        .join(UserSite, UserSite.user_id == User.id)
        .where(
            UserSite.site_id.in_(sites),
            User.role == "animator",
            User.active.is_(True),
            User.email.is_not(None),
        )
        .distinct()
    )
    return sorted({address for address in found if address})


def report_lost(
    session: Session,
    member_id: str,
    uid: str,
    *,
    department_email: str | None,
    now: datetime | None = None,
) -> set[str] | None:
    """Revoke the member's active badge `uid`; the sites whose access lists must go out.
    None when it is not an active badge of this member (nothing changes)."""
    now = now or utcnow()
    badge = session.get(Badge, uid)
    member = session.get(Member, member_id)
    if badge is None or member is None or badge.member_id != member_id or not badge.active:
        return None
    changed = revoke_badge(session, uid=uid, actor=ACTOR)
    record(session, ACTOR, "badge_reported_lost", badge=uid, member_id=member_id)
    sites = recent_sites(session, member_id, now)
    addresses = _animators(session, sites)
    if department_email is not None and department_email.lower() not in map(str.lower, addresses):
        addresses.append(department_email)
    names = list(site_labels(session, sites).values())
    subject, body = TEMPLATES.render(
        "lost_badge.txt",
        member_name=full_name(member.first_name, member.last_name),
        member_id=member_id,
        badge_end=uid[-4:],
        at=now,
        sites=names,
    )
    for address in addresses:
        enqueue(session, address, subject, body, thread=f"lost-badge:{uid}", now=now)
    return changed
