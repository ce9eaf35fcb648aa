"""The years that have stays, so the evaluation page offers only years it can say something
about (a year button leading to empty tables, and a comparison with -100 %, misled readers).

A stay belongs to the local year of its start at its own site, as in every report
(RULES.md rule 5). One query per year found and per time zone: each asks for the first
stay on or after the next year's first local day, which the index on (site, start) answers
at once, however many stays a year holds.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.people.sites import load_sites
from hub.store.models import PresenceSession


def _by_zone(session: Session, sites: Collection[str] | None) -> list[tuple[ZoneInfo, list[str]]]:
    """`sites` (None: every site) grouped by time zone: a local day or year is one query
    per zone."""
    by_zone: dict[str, list[str]] = defaultdict(list)
    zones = {}
    for site in load_sites(session, sites).values():
        by_zone[site.timezone].append(site.id)
        zones[site.timezone] = site.zone
    return [(zones[timezone], ids) for timezone, ids in by_zone.items()]


def years_with_stays(session: Session, sites: Collection[str] | None) -> list[int]:
    """The local years in which a stay started at one of `sites` (None: every site), newest
    first."""
    years: set[int] = set()
    for zone, ids in _by_zone(session, sites):
        since: datetime | None = None
        while True:
            query = select(func.min(PresenceSession.start)).where(PresenceSession.site_id.in_(ids))
            if since is not None:
                query = query.where(PresenceSession.start >= since)
            first = session.scalar(query)
            if first is None:
                break
            year = first.astimezone(zone).year
            years.add(year)
            since = datetime(year + 1, 1, 1, tzinfo=zone)
    return sorted(years, reverse=True)


def first_stay_day(session: Session, sites: Collection[str] | None) -> date | None:
    """The local day of the first stay at one of `sites` (None: every site): when the
    records begin, so a period before it is said to be before them, not empty. One indexed
    query per time zone."""
    days = []
    for zone, ids in _by_zone(session, sites):
        query = select(func.min(PresenceSession.start)).where(PresenceSession.site_id.in_(ids))
        first = session.scalar(query)
        if first is not None:
            days.append(first.astimezone(zone).date())
    return min(days, default=None)
