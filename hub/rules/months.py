"""A site's sessions of one local month summed up: what the evaluation
(`hub.rules.evaluation`) and its charts (`hub.rules.patterns`) are computed from.

Every figure of a period is, per site, a union (who came) or a sum (the hours, the time in
each hour slot of the week) over its sessions, so it is also a union or a sum over the
period's months. A month summed up once thus serves every period that contains it: the store
keeps the months (`hub.reports.months`), and a period is read from 12 rows a site a year
instead of every session; the days of a month a period only partly covers are summed up from
their sessions, by the same function. A year's months summed up together (`YearTally`) serve
a report of whole years from one row a site: a national network's evaluation and the year
before it then read two thousand rows, not twenty-four thousand.

A session belongs to the local month of its start (RULES.md rule 5). Its time goes to the
local weekday and hour of each of its pieces: cut at the hour boundaries in UTC, which are the
local ones for the whole-hour offsets of every zone the network uses, so a stay across a
change of time is counted in real time.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from operator import add
from typing import Protocol
from zoneinfo import ZoneInfo

from hub.rules.model import SiteRules, elapsed

HOUR = timedelta(hours=1)
_MICROSECOND = timedelta(microseconds=1)
_HOUR_US = 3_600_000_000
#: Hour slots of a week: `weekday * 24 + hour`, Monday 00:00 first.
SLOTS = 7 * 24


def _no_time() -> list[int]:
    return [0] * SLOTS


@dataclass
class MonthTally:
    """One site's sessions of one local month, or of the days of it in a period."""

    #: Who started a session (open ones included), each once: member ids, pseudonyms for
    #: pseudonymised sessions. A set while sessions are summed up; a stored tally read back
    #: keeps its stored list (a national network's year is 185,000 ids, which a report then
    #: counts and unites faster than it would first hash them into sets).
    users: Collection[str] = field(default_factory=set)
    #: Real time of the closed sessions, in microseconds.
    used_us: int = 0
    #: Person-time of the closed sessions in each local hour slot of the week (`SLOTS`), in
    #: microseconds.
    slots: list[int] = field(default_factory=_no_time)


@dataclass
class YearTally(MonthTally):
    """One site's 12 months of one local year summed up together (`year_tally`)."""

    #: Each month's `used_us`, January first: the charts' hours by month.
    months_us: list[int] = field(default_factory=lambda: [0] * 12)


#: (site id, "YYYY-MM") → the month's tally, or (site id, "YYYY") → the whole year's
#: (`YearTally`, which says who came in the year, not in which month).
Tallies = dict[tuple[str, str], MonthTally]


def year_tally(months: Mapping[str, MonthTally]) -> YearTally:
    """The months ("YYYY-MM" → tally) of one site's year summed up: the union of who came,
    the sums of the times."""
    year = YearTally()
    year.users = set().union(*(month.users for month in months.values()))
    for key, month in months.items():
        year.used_us += month.used_us
        year.months_us[int(key[5:]) - 1] += month.used_us
        if month.used_us:
            year.slots = list(map(add, year.slots, month.slots))
    return year


def month_key(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def month_bounds(key: str) -> tuple[date, date]:
    """First and last day of a "YYYY-MM" month."""
    year, month = int(key[:4]), int(key[5:])
    return date(year, month, 1), date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)


class Stay(Protocol):
    """What the tally reads of a session (`hub.rules.model.Session` is one): a report
    passes lighter rows, a year of a network being hundreds of thousands."""

    @property
    def member_id(self) -> str: ...
    @property
    def site(self) -> str: ...
    @property
    def start(self) -> datetime: ...
    @property
    def end(self) -> datetime | None: ...


def tally(
    sites: Mapping[str, SiteRules],
    sessions: Iterable[Stay],
    first_day: date,
    last_day: date,
    into: Tallies | None = None,
) -> Tallies:
    """The sessions started on a local day of [first_day, last_day], summed up by site and
    month (added to `into` when given). Every session's site must be in `sites`."""
    tallies: Tallies = {} if into is None else into
    #: The users of each tally added to, as a set.
    users: dict[tuple[str, str], set[str]] = {}
    for session in sessions:
        site = sites.get(session.site)
        if site is None:
            raise ValueError(f"session at unknown site {session.site!r}")
        local_start = session.start.astimezone(site.zone)
        day = local_start.date()
        if not first_day <= day <= last_day:
            continue
        key = (site.id, month_key(day))
        who = users.get(key)
        if who is None:
            month = tallies.get(key) or MonthTally()
            who = users[key] = set(month.users)
            month.users = who
            tallies[key] = month
        else:
            month = tallies[key]
        who.add(session.member_id)
        end = session.end
        if end is not None:
            month.used_us += _add_pieces(site.zone, local_start, session.start, end, month.slots)
    return tallies


def _add_pieces(
    zone: ZoneInfo, local_start: datetime, start: datetime, end: datetime, slots: list[int]
) -> int:
    """Add a stay's time, in microseconds, to the hour slots of its local weekdays; its
    length in microseconds.

    Counted from the local start when the stay keeps one UTC offset (nearly all do: the
    walk is then arithmetic); a stay across a change of time is cut at the hour boundaries
    in UTC, each piece at its local hour."""
    local_end = end.astimezone(zone)
    if start.tzinfo is UTC and end.tzinfo is UTC:  # the store's: their difference is real time
        length = (end - start) // _MICROSECOND
    else:
        length = elapsed(start, end) // _MICROSECOND
    if local_start.utcoffset() == local_end.utcoffset():
        slot = local_start.weekday() * 24 + local_start.hour
        into_hour = (local_start.minute * 60 + local_start.second) * 1_000_000 + (
            local_start.microsecond
        )
        left = length
        while left > 0:
            piece = _HOUR_US - into_hour
            if piece > left:
                piece = left
            slots[slot] += piece
            left -= piece
            slot, into_hour = (slot + 1) % SLOTS, 0
        return length
    moment, last = start.astimezone(UTC), end.astimezone(UTC)
    while moment < last:
        boundary = moment.replace(minute=0, second=0, microsecond=0) + HOUR
        piece_end = min(boundary, last)
        local = moment.astimezone(zone)
        slots[local.weekday() * 24 + local.hour] += (piece_end - moment) // _MICROSECOND
        moment = piece_end
    return length
