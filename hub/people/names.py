"""What people read for the things the store keys by id: a site with its town, a door by
the name the sites file gives it, a device by its label, a user by their name. Pages, files
and messages all ask here, so "La Cocotte Numérique (Murat)" reads the same everywhere.

>>> names = place_names(session, ["murat"])                  # doctest: +SKIP
>>> names.door("murat", "main"), names.device("murat", "murat-door")
("Porte d'entrée", "Boîtier de l'entrée")
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.store.models import Site, User


def site_label(name: str, commune: str | None) -> str:
    """The site's name with its town, unless the name already says it:
    `Télécentre de la médiathèque (Mauriac)`, `Murat Coworking`."""
    if not commune or commune.casefold() in name.casefold():
        return name
    return f"{name} ({commune})"


def site_labels(session: Session, sites: Iterable[str] | None = None) -> dict[str, str]:
    """`{site id: name (town)}` of the given sites (None: all), in name order."""
    query = select(Site.id, Site.name, Site.commune).order_by(Site.name, Site.id)
    if sites is not None:
        query = query.where(Site.id.in_(sorted(set(sites))))
    return {site_id: site_label(name, commune) for site_id, name, commune in session.execute(query)}


@dataclass(frozen=True)
class PlaceNames:
    """The doors' names and the devices' labels of some sites, from the sites file."""

    doors: dict[str, dict[str, str]] = field(default_factory=dict)
    devices: dict[str, dict[str, str]] = field(default_factory=dict)

    def door(self, site: str, door: str | None) -> str | None:
        """The door's name; None when the sites file names none (the page says "the door")."""
        if door is None:
            return None
        return self.doors.get(site, {}).get(door)

    def device(self, site: str, device: str) -> str | None:
        """The device's label; None when the sites file gives none."""
        return self.devices.get(site, {}).get(device)


def place_names(session: Session, sites: Collection[str]) -> PlaceNames:
    rows = session.execute(
        select(Site.id, Site.door_names, Site.device_labels).where(Site.id.in_(sorted(sites)))
    )
    doors: dict[str, dict[str, str]] = {}
    devices: dict[str, dict[str, str]] = {}
    for site, door_names, device_labels in rows:
        doors[site] = {str(k): str(v) for k, v in (door_names or {}).items()}
        devices[site] = {str(k): str(v) for k, v in (device_labels or {}).items()}
    return PlaceNames(doors, devices)


def user_names(session: Session, logins: Collection[str]) -> dict[str, str]:
    """`{login: display name}` of the given logins (those that exist)."""
    if not logins:
        return {}
    rows = session.execute(
        select(User.login, User.display_name).where(User.login.in_(sorted(logins)))
    )
    return {login: name for login, name in rows}
