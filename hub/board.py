"""What the live board shows for a site: who is in, the last taps and door events, the
health of its devices and its standing alarms. Plain data, read in one short transaction;
the console renders it, the API could serve it.

>>> board = site_board(session, "murat", utcnow(), max_session_h=12)   # doctest: +SKIP
>>> board.present, board.positions
(3, 8)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.alarms import StandingAlarm, standing_alarms
from hub.presence import occupancies
from hub.sites import load_sites
from hub.store.models import AccessListVersion, Device, Event, Member, Site

#: Taps and door events shown per site.
LAST_EVENTS = 8
#: A device whose last status is older than this is shown as not heard from (statuses come
#: every minute by default).
SILENT_AFTER = timedelta(minutes=3)


@dataclass(frozen=True)
class PersonIn:
    member_id: str
    name: str
    since: datetime


@dataclass(frozen=True)
class Tap:
    at: datetime
    #: The holder's name, None for an unknown badge.
    name: str | None
    #: The last four characters of the badge, to tell unknown badges apart.
    badge_end: str
    granted: bool
    reason: str | None
    direction: str | None


@dataclass(frozen=True)
class DoorMoment:
    at: datetime
    door: str | None
    #: `open`, `closed`, `exit_request` or an alarm kind.
    what: str


@dataclass(frozen=True)
class DeviceHealth:
    id: str
    online: bool
    last_seen: datetime | None
    silent: bool
    queue: int | None
    clock_synced: bool | None
    readers_in_error: tuple[str, ...]
    access_version: int | None
    latest_version: int | None

    @property
    def list_behind(self) -> bool:
        """The door decides from an older access list than the site's latest."""
        return self.latest_version is not None and (
            self.access_version is None or self.access_version < self.latest_version
        )

    @property
    def healthy(self) -> bool:
        return (
            self.online
            and not self.silent
            and self.clock_synced is not False
            and not self.readers_in_error
            and not self.list_behind
        )


@dataclass(frozen=True)
class SiteBoard:
    site_id: str
    name: str
    people: list[PersonIn]
    positions: int
    taps: list[Tap]
    doors: list[DoorMoment]
    devices: list[DeviceHealth]
    alarms: list[StandingAlarm]

    @property
    def present(self) -> int:
        return len(self.people)

    @property
    def fill_percent(self) -> int:
        if self.positions <= 0:
            return 0
        return min(100, round(100 * self.present / self.positions))


def _names(session: Session, member_ids: set[str]) -> dict[str, str]:
    if not member_ids:
        return {}
    rows = session.execute(
        select(Member.id, Member.first_name, Member.last_name).where(
            Member.id.in_(sorted(member_ids))
        )
    )
    return {member_id: f"{first} {last}".strip() for member_id, first, last in rows}


def _taps(session: Session, site_id: str) -> list[tuple[Event, str | None]]:
    rows = session.scalars(
        select(Event)
        .where(Event.site == site_id, Event.type == "badge")
        .order_by(Event.ts.desc(), Event.id)
        .limit(LAST_EVENTS)
    )
    return [(event, event.member_id) for event in rows]


def _door_moments(session: Session, site_id: str) -> list[DoorMoment]:
    rows = session.scalars(
        select(Event)
        .where(Event.site == site_id, Event.type.in_(("door", "alarm", "exit_request")))
        .order_by(Event.ts.desc(), Event.id)
        .limit(LAST_EVENTS)
    )
    moments = []
    for event in rows:
        what = {"door": event.state, "alarm": event.kind}.get(event.type) or event.type
        moments.append(DoorMoment(event.ts, event.door, what or event.type))
    return moments


def _devices(session: Session, site_id: str, now: datetime) -> list[DeviceHealth]:
    latest = session.scalar(
        select(func.max(AccessListVersion.version)).where(AccessListVersion.site_id == site_id)
    )
    found = []
    for device in session.scalars(select(Device).where(Device.site == site_id).order_by(Device.id)):
        online = device.state == "online"
        found.append(
            DeviceHealth(
                id=device.id,
                online=online,
                last_seen=device.last_seen,
                silent=online
                and (device.updated_at is None or now - device.updated_at > SILENT_AFTER),
                queue=device.queue,
                clock_synced=device.clock_synced,
                readers_in_error=tuple(
                    sorted(reader for reader, state in device.readers.items() if state == "error")
                ),
                access_version=device.access_version,
                latest_version=latest,
            )
        )
    return found


def site_board(
    session: Session, site_id: str, now: datetime, *, max_session_h: float
) -> SiteBoard | None:
    """The board of one site; None if there is no such site."""
    rules = load_sites(session, [site_id]).get(site_id)
    site = session.get(Site, site_id)
    if rules is None or site is None:
        return None
    present = occupancies(session, [rules], now, max_session_h=max_session_h)[site_id]
    taps = _taps(session, site_id)
    names = _names(
        session,
        {p.member_id for p in present} | {member for _, member in taps if member is not None},
    )
    return SiteBoard(
        site_id=site_id,
        name=site.name,
        people=[
            PersonIn(p.member_id, names.get(p.member_id, p.member_id), p.since) for p in present
        ],
        positions=rules.positions.total,
        taps=[
            Tap(
                at=event.ts,
                name=names.get(member) if member is not None else None,
                badge_end=(event.badge or "")[-4:],
                granted=event.access == "granted",
                reason=event.reason,
                direction=event.direction,
            )
            for event, member in taps
        ],
        doors=_door_moments(session, site_id),
        devices=_devices(session, site_id, now),
        alarms=standing_alarms(session, [site_id]),
    )
