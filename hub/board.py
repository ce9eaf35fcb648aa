"""What the live board shows for a site: who is in, the last taps and door events, the
health of its devices and its standing alarms. Plain data, read in one short transaction;
the console renders it, the API could serve it.

>>> [board] = site_boards(session, ["murat"], utcnow(), max_session_h=12)  # doctest: +SKIP
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


def _devices(session: Session, sites: list[str], now: datetime) -> dict[str, list[DeviceHealth]]:
    latest: dict[str, int] = {
        site: version
        for site, version in session.execute(
            select(AccessListVersion.site_id, func.max(AccessListVersion.version))
            .where(AccessListVersion.site_id.in_(sites))
            .group_by(AccessListVersion.site_id)
        )
    }
    found: dict[str, list[DeviceHealth]] = {site: [] for site in sites}
    for device in session.scalars(select(Device).where(Device.site.in_(sites)).order_by(Device.id)):
        online = device.state == "online"
        found[device.site].append(
            DeviceHealth(
                id=device.id,
                online=online,
                last_seen=device.last_seen,
                silent=online and now - device.updated_at > SILENT_AFTER,
                queue=device.queue,
                clock_synced=device.clock_synced,
                readers_in_error=tuple(
                    sorted(reader for reader, state in device.readers.items() if state == "error")
                ),
                access_version=device.access_version,
                latest_version=latest.get(device.site),
            )
        )
    return found


def site_boards(
    session: Session, site_ids: list[str], now: datetime, *, max_session_h: float
) -> list[SiteBoard]:
    """The boards of the given sites, in the order given; ids of no site are left out.
    One query per kind of thing for all the sites, but the last taps and door events, which
    are per site (the last few of each)."""
    rules = load_sites(session, site_ids)
    sites = [site for site in site_ids if site in rules]
    if not sites:
        return []
    names_of_sites: dict[str, str] = {
        site: name
        for site, name in session.execute(select(Site.id, Site.name).where(Site.id.in_(sites)))
    }
    present = occupancies(
        session, [rules[site] for site in sites], now, max_session_h=max_session_h
    )
    taps = {site: _taps(session, site) for site in sites}
    names = _names(
        session,
        {p.member_id for people in present.values() for p in people}
        | {member for rows in taps.values() for _, member in rows if member is not None},
    )
    devices = _devices(session, sites, now)
    alarms = standing_alarms(session, sites)
    return [
        SiteBoard(
            site_id=site,
            name=names_of_sites[site],
            people=[
                PersonIn(p.member_id, names.get(p.member_id, p.member_id), p.since)
                for p in present[site]
            ],
            positions=rules[site].positions.total,
            taps=[
                Tap(
                    at=event.ts,
                    name=names.get(member) if member is not None else None,
                    badge_end=(event.badge or "")[-4:],
                    granted=event.access == "granted",
                    reason=event.reason,
                    direction=event.direction,
                )
                for event, member in taps[site]
            ],
            doors=_door_moments(session, site),
            devices=devices[site],
            alarms=[alarm for alarm in alarms if alarm.site_id == site],
        )
        for site in sites
    ]
