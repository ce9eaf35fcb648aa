"""Enrolling badges by tapping them: an animator asks the newcomer to present their card at
the door, the edge refuses it (`unknown`), the console lists that tap and one click gives the
badge to a member. Then the site's new access list goes out and each door says, in its
status's `access_version`, when it has applied it.

Each change is audited and written in the caller's transaction, and returns the sites whose
access lists must be published once it commits (every site: a member may enter every site of
the network, see `hub.doors.access_lists`).

>>> taps = unknown_taps(session, {"murat"}, since=now - timedelta(minutes=15))  # doctest: +SKIP
>>> changed = assign_badge(session, uid=taps[0].badge, member_id="M001", actor="user:amelie")
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.people.audit import record
from hub.people.members import all_sites, full_name, unknown_member
from hub.people.names import place_names
from hub.people.users import N_, Invalid
from hub.store.models import AccessListVersion, Badge, Device, Event, Member
from telecentre import wire

#: How far back the members page looks for unknown badges.
RECENT_MINUTES = 15


@dataclass(frozen=True)
class UnknownTap:
    """The last time a badge nobody holds was presented at a site."""

    badge: str
    site: str
    device: str
    #: The edge's time stamp, UTC.
    at: datetime
    #: Times it was presented at that site in the window (a newcomer often tries twice).
    taps: int


def unknown_taps(session: Session, sites: Collection[str], *, since: datetime) -> list[UnknownTap]:
    """Badges refused as `unknown` at `sites` since `since` that still have no active holder,
    newest first, one line per badge and site."""
    rows = session.execute(
        select(Event.badge, Event.site, Event.device, Event.ts)
        .where(
            Event.site.in_(sorted(sites)),
            Event.ts >= since,
            Event.type == "badge",
            Event.access == "denied",
            Event.reason == "unknown",
            Event.badge.is_not(None),
            Event.badge.not_in(select(Badge.uid).where(Badge.active)),
        )
        .order_by(Event.ts.desc(), Event.id)
    ).all()
    latest: dict[tuple[str, str], UnknownTap] = {}
    for badge, site, device, ts in rows:
        assert badge is not None  # the query's
        key = (badge, site)
        seen = latest.get(key)
        if seen is None:
            latest[key] = UnknownTap(badge, site, device, ts, 1)
        else:
            latest[key] = UnknownTap(badge, site, seen.device, seen.at, seen.taps + 1)
    return sorted(latest.values(), key=lambda tap: tap.at, reverse=True)


def assign_badge(session: Session, *, uid: str, member_id: str, actor: str) -> set[str]:
    """Give badge `uid` to the member: a new badge, or one revoked earlier (from whoever held
    it). A badge another member holds is refused: revoke it there first, on purpose."""
    try:
        uid = wire.parse_badge(uid)
    except wire.ProtocolError:
        raise Invalid("badge", N_("A badge number is 8 to 20 hexadecimal digits.")) from None
    if session.get(Member, member_id) is None:
        raise unknown_member(member_id)
    badge = session.get(Badge, uid)
    if badge is not None and badge.active:
        if badge.member_id == member_id:
            return set()
        holder = session.get(Member, badge.member_id)
        name = full_name(holder.first_name, holder.last_name) if holder else badge.member_id
        raise Invalid("badge", N_("This badge is %(name)s's: revoke it there first."), name=name)
    before = None if badge is None else {"member_id": badge.member_id, "active": False}
    if badge is None:
        session.add(Badge(uid=uid, member_id=member_id, active=True))
    else:
        badge.member_id, badge.active = member_id, True
    session.flush()
    changed = all_sites(session)
    record(
        session,
        actor,
        "badge_assigned",
        sites=changed,
        before=before,
        after={"member_id": member_id, "active": True},
        badge=uid,
        member_id=member_id,
    )
    return changed


def revoke_badge(session: Session, *, uid: str, actor: str) -> set[str]:
    """Deactivate a badge (lost, stolen, returned): the doors refuse it from their next list."""
    badge = session.get(Badge, wire.normalise_badge(uid))
    if badge is None:
        raise Invalid("badge", N_("There is no badge %(badge)s."), badge=uid)
    if not badge.active:
        return set()
    badge.active = False
    session.flush()
    changed = all_sites(session)
    record(
        session,
        actor,
        "badge_revoked",
        sites=changed,
        before={"member_id": badge.member_id, "active": True},
        after={"member_id": badge.member_id, "active": False},
        badge=badge.uid,
        member_id=badge.member_id,
    )
    return changed


@dataclass(frozen=True)
class DoorAccess:
    """Which access list an edge device decides from, against its site's latest."""

    device: str
    site: str
    #: `online` or `offline`.
    state: str
    access_version: int | None
    latest: int | None
    #: What people call the device (the sites file's label), None without one.
    label: str | None = None
    #: When the first list it has not applied was issued (None: up to date).
    behind_since: datetime | None = None

    @property
    def applied(self) -> bool:
        return self.latest is None or (
            self.access_version is not None and self.access_version >= self.latest
        )


def door_access(session: Session, sites: Collection[str]) -> list[DoorAccess]:
    """Every device of `sites`, by site then device, with the list it applied."""
    latest = dict(
        session.execute(
            select(AccessListVersion.site_id, func.max(AccessListVersion.version))
            .where(AccessListVersion.site_id.in_(sorted(sites)))
            .group_by(AccessListVersion.site_id)
        ).all()
    )
    devices = session.scalars(
        select(Device).where(Device.site.in_(sorted(sites))).order_by(Device.site, Device.id)
    )
    names = place_names(session, sites)
    found = []
    for d in devices:
        door = DoorAccess(
            d.id, d.site, d.state, d.access_version, latest.get(d.site), names.device(d.site, d.id)
        )
        if not door.applied:
            since = session.scalar(
                select(func.min(AccessListVersion.issued)).where(
                    AccessListVersion.site_id == d.site,
                    AccessListVersion.version > (d.access_version or -1),
                )
            )
            door = replace(door, behind_since=since)
        found.append(door)
    return found
