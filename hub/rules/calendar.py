"""When a site is open, when it closes, and how many position-hours it offers.

Opening hours are local wall-clock times, but every length computed here is real elapsed
time between aware instants: a range that spans a DST change (say 00:00-06:00 on
2026-03-29 in Europe/Paris) offers 5 h, not 6 h, because that is how long a desk is there to
be used. Ranges that do not span 02:00-03:00 are unaffected, so 08:30-17:00 is 8.5 h on a DST
day as on any other. A local time that does not exist (02:30 on the spring-forward day) is
read with the offset before the change, as PEP 495 does by default.

>>> from hub.rules.model import Positions, SiteRules, weekly_opening
>>> site = SiteRules("murat", opening=weekly_opening({"wed": ["08:30-12:00", "13:30-17:00"]}),
...                  positions=Positions(office=3, open_space=6))
>>> available_hours(site, date(2026, 11, 4), date(2026, 11, 11))  # the 11th is a holiday
Decimal('63.0000')
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache

import holidays

from hub.rules.model import WEEKDAYS, OpeningRange, SiteRules, elapsed, to_hours


@lru_cache(maxsize=64)
def _french_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("FR", years=year))


def is_public_holiday(day: date) -> bool:
    """French public holidays (metropolitan list), the days sites close by default."""
    return day in _french_holidays(day.year)


def opening_ranges(site: SiteRules, day: date) -> tuple[OpeningRange, ...]:
    """The local opening ranges of one day, empty when the site is closed that day."""
    if day in site.closed:
        return ()
    if not site.open_on_public_holidays and is_public_holiday(day):
        return ()
    return tuple(site.opening.get(WEEKDAYS[day.weekday()], ()))


def opening_intervals(site: SiteRules, day: date) -> list[tuple[datetime, datetime]]:
    """The opening ranges of a day as aware instants in the site's zone."""
    zone = site.zone
    return [
        (datetime.combine(day, start, tzinfo=zone), datetime.combine(day, end, tzinfo=zone))
        for start, end in opening_ranges(site, day)
    ]


def closing_time(site: SiteRules, day: date) -> datetime | None:
    """When the site closes for the day (end of its last range), None if it does not open.

    Remembered in `site.closing_times`: the presence rules ask for each session they make.
    """
    known = site.closing_times
    if day not in known:
        intervals = opening_intervals(site, day)
        known[day] = intervals[-1][1] if intervals else None
    return known[day]


def open_duration(site: SiteRules, day: date) -> timedelta:
    """Real time the site is open on a local day (see the module docstring for DST)."""
    return sum((elapsed(start, end) for start, end in opening_intervals(site, day)), timedelta())


def open_time(site: SiteRules, first_day: date, last_day: date) -> timedelta:
    """Real time the site is open over [first_day, last_day], both included, whatever its
    positions."""
    total = timedelta()
    day = first_day
    while day <= last_day:
        total += open_duration(site, day)
        day += timedelta(days=1)
    return total


def available_time(site: SiteRules, first_day: date, last_day: date) -> timedelta:
    """Position-time the site offers over [first_day, last_day], both included."""
    if site.positions.total == 0:
        return timedelta()
    return open_time(site, first_day, last_day) * site.positions.total


def available_hours(site: SiteRules, first_day: date, last_day: date) -> Decimal:
    """RULES.md's available hours: open hours of each open day × positions."""
    return to_hours(available_time(site, first_day, last_day))
