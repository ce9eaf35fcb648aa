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
from typing import Any

from sqlalchemy import Row, func, or_, select, union_all
from sqlalchemy.orm import Session

from hub.doors.alarms import StandingAlarm, standing_alarms
from hub.people.names import PlaceNames, place_names, site_labels
from hub.people.sites import load_sites
from hub.presence.engine import occupancies
from hub.store.models import AccessListVersion, Device, Event, Member, PresenceSession

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
    #: The stored session they are in (None if the auto-close already ended it): the board
    #: checks them out or corrects it in one click.
    session_id: int | None = None


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
    #: What people call it (the sites file's label), None when it has none.
    label: str | None
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
    #: The names the sites file gives this site's doors and devices.
    names: PlaceNames

    def door_name(self, door: str | None) -> str | None:
        """The door's name from the sites file, None when it has none."""
        return self.names.door(self.site_id, door)

    def device_label(self, device: str) -> str | None:
        return self.names.device(self.site_id, device)

    @property
    def unhealthy(self) -> int:
        """Devices that need a look."""
        return sum(1 for device in self.devices if not device.healthy)

    @property
    def last_tap(self) -> datetime | None:
        return self.taps[0].at if self.taps else None

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


_DOOR_TYPES = ("door", "alarm", "exit_request")
_COLUMNS = (
    *(Event.site, Event.type, Event.ts, Event.id, Event.badge, Event.member_id),
    *(Event.access, Event.reason, Event.direction, Event.door, Event.state, Event.kind),
)


def _last_events(session: Session, sites: list[str]) -> dict[str, list[Row[Any]]]:
    """The last `LAST_EVENTS` taps and the last door events of each site, newest first: in
    one statement, each part walking the (site, ts) index backwards for its few rows."""
    parts = []
    for site in sites:
        for types in (("badge",), _DOOR_TYPES):
            part = (
                select(*_COLUMNS)
                .where(Event.site == site, Event.type.in_(types))
                .order_by(Event.ts.desc(), Event.id)
                .limit(LAST_EVENTS)
                .subquery()
            )
            parts.append(select(*part.c))
    found: dict[str, list[Row[Any]]] = {site: [] for site in sites}
    for row in session.execute(union_all(*parts)):
        found[row.site].append(row)
    for rows in found.values():
        rows.sort(key=lambda row: (row.ts, row.id), reverse=True)
    return found


def _door_moment(row: Row[Any]) -> DoorMoment:
    what = {"door": row.state, "alarm": row.kind}.get(row.type) or row.type
    return DoorMoment(row.ts, row.door, what)


def _open_sessions(session: Session, sites: list[str], now: datetime) -> dict[tuple[str, str], int]:
    """`{(site, member): session id}` of the sessions going on at `now`."""
    rows = session.execute(
        select(PresenceSession.site_id, PresenceSession.member_id, PresenceSession.id).where(
            PresenceSession.site_id.in_(sites),
            PresenceSession.member_id.is_not(None),
            PresenceSession.start <= now,
            or_(PresenceSession.end.is_(None), PresenceSession.end > now),
        )
    )
    return {(site, member): number for site, member, number in rows if member is not None}


def _devices(
    session: Session, sites: list[str], now: datetime, names: PlaceNames
) -> dict[str, list[DeviceHealth]]:
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
                label=names.device(device.site, device.id),
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
    names_of_sites = site_labels(session, sites)
    places = place_names(session, sites)
    stays = _open_sessions(session, sites, now)
    present = occupancies(
        session, [rules[site] for site in sites], now, max_session_h=max_session_h
    )
    events = _last_events(session, sites)
    taps = {site: [row for row in rows if row.type == "badge"] for site, rows in events.items()}
    names = _names(
        session,
        {p.member_id for people in present.values() for p in people}
        | {row.member_id for rows in taps.values() for row in rows if row.member_id is not None},
    )
    devices = _devices(session, sites, now, places)
    alarms = standing_alarms(session, sites)
    return [
        SiteBoard(
            site_id=site,
            name=names_of_sites[site],
            people=[
                PersonIn(
                    p.member_id,
                    names.get(p.member_id, p.member_id),
                    p.since,
                    stays.get((site, p.member_id)),
                )
                for p in present[site]
            ],
            positions=rules[site].positions.total,
            taps=[
                Tap(
                    at=row.ts,
                    name=names.get(row.member_id) if row.member_id is not None else None,
                    badge_end=(row.badge or "")[-4:],
                    granted=row.access == "granted",
                    reason=row.reason,
                    direction=row.direction,
                )
                for row in taps[site]
            ],
            doors=[_door_moment(row) for row in events[site] if row.type != "badge"],
            devices=devices[site],
            alarms=[alarm for alarm in alarms if alarm.site_id == site],
            names=places,
        )
        for site in sites
    ]
