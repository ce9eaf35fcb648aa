"""When the positions are used: the series behind the evaluation's charts.

- hours per month per site (closed sessions, filed under the local month of their start, as
  every report files them: RULES.md rule 5);
- the occupancy by weekday × hour of day: the person-time spent in each hour slot of each
  weekday over the period, divided by (the number of such weekdays in the period × the
  positions of the sites): 0.5 means half the positions were taken, on average, in that slot;
- the fill rate over an average day, per site: the person-time in each hour of the day over
  the period, divided by (the site's open days in the period × its positions);
- the Pass members per month: every Pass valid on a day of the month for the network, and
  for a selection of sites those of them who came to it that month (as the evaluation).

The series are combined from the period's sessions summed up by site and month
(`hub.rules.months`, which says how a stay is cut into hour slots).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from operator import add

from hub.rules.calendar import opening_ranges
from hub.rules.model import Roster, SiteRules, hours_of_us
from hub.rules.months import HOUR, SLOTS, Tallies, YearTally, month_bounds

_MICROSECOND = timedelta(microseconds=1)
RATE_QUANTUM = Decimal("0.0001")
#: The hours of the day the heat map and the day profile show at least (07:00 to 20:59).
FIRST_HOUR, LAST_HOUR = 7, 20


@dataclass(frozen=True)
class Patterns:
    first_day: date
    last_day: date
    #: "YYYY-MM" of every month the period touches, in order.
    months: list[str]
    #: Site id → hours of each month of `months`.
    hours_by_month: Mapping[str, list[Decimal]]
    #: Hours of each month of `months` at all the sites (rounded once, from exact durations).
    month_totals: list[Decimal]
    #: The hours of the day shown: at least FIRST_HOUR..LAST_HOUR, wider if stays were there.
    hours: list[int]
    #: [weekday 0 = Monday][index in `hours`] → share of the positions taken; None on a
    #: weekday the period does not contain.
    heat: list[list[Decimal | None]]
    #: Site id → [index in `hours`] → share of its positions taken over an average open day;
    #: None for a site without positions or open days.
    day_profile: Mapping[str, list[Decimal | None]]
    #: Pass members of each month of `months`.
    pass_members: list[int]


def month_keys(first_day: date, last_day: date) -> list[str]:
    keys = []
    year, month = first_day.year, first_day.month
    while (year, month) <= (last_day.year, last_day.month):
        keys.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return keys


def _days(first_day: date, last_day: date) -> Iterable[date]:
    day = first_day
    while day <= last_day:
        yield day
        day += timedelta(days=1)


def _shares(used_us: Iterable[int], capacity: timedelta) -> list[Decimal | None]:
    """Each time used over `capacity`, None when nothing was available (a site's hours of the
    day share its capacity: it is converted once)."""
    if not capacity:
        return [None for _used in used_us]
    whole = Decimal(capacity // _MICROSECOND)
    return [
        (Decimal(used) / whole).quantize(RATE_QUANTUM, rounding=ROUND_HALF_UP) for used in used_us
    ]


def patterns(
    sites: Iterable[SiteRules],
    members: Roster,
    tallies: Tallies,
    first_day: date,
    last_day: date,
    *,
    network: bool = True,
) -> Patterns:
    """The series for [first_day, last_day], from the period's sessions summed up by site and
    month (`hub.rules.months.tally`), or whole years (`YearTally`, for the network only);
    every tally's site must be in `sites`. `network`: the Pass members per month are every
    valid Pass (else those who came)."""
    rules = {site.id: site for site in sorted(sites, key=lambda site: site.id)}
    months = month_keys(first_day, last_day)
    month_index = {key: index for index, key in enumerate(months)}
    used_by_month = {site: [0] * len(months) for site in rules}
    site_slots = {site: [0] * SLOTS for site in rules}
    users_by_month: list[set[str]] = [set() for _ in months]
    for (site_id, key), tallied in tallies.items():
        if site_id not in rules:
            raise ValueError(f"session at unknown site {site_id!r}")
        if isinstance(tallied, YearTally):
            if not network:
                raise ValueError("a selection's Pass members per month need its months")
            january = month_index[f"{key}-01"]
            site_months = used_by_month[site_id]
            for offset, used_us in enumerate(tallied.months_us):
                site_months[january + offset] += used_us
        else:
            index = month_index[key]
            if not network:  # the network's Pass members per month are every valid Pass
                users_by_month[index].update(tallied.users)
            used_by_month[site_id][index] += tallied.used_us
        if tallied.used_us:
            site_slots[site_id] = list(map(add, site_slots[site_id], tallied.slots))
    slots = [0] * SLOTS
    for used in site_slots.values():
        slots = list(map(add, slots, used))
    used_hours = [hour for hour in range(24) if any(slots[hour::24])]
    hours = list(range(min([FIRST_HOUR, *used_hours]), max([LAST_HOUR, *used_hours]) + 1))
    weekdays = [0] * 7
    for day in _days(first_day, last_day):
        weekdays[day.weekday()] += 1
    positions = sum(site.positions.total for site in rules.values())
    # A weekday the period does not contain has no capacity: None.
    heat = [
        _shares([slots[weekday * 24 + hour] for hour in hours], HOUR * count * positions)
        for weekday, count in enumerate(weekdays)
    ]
    open_days = _open_days(rules.values(), first_day, last_day)
    day_profile: dict[str, list[Decimal | None]] = {}
    for site in rules.values():
        capacity = HOUR * open_days[site.id] * site.positions.total
        by_hour = site_slots[site.id]
        day_profile[site.id] = _shares([sum(by_hour[hour::24]) for hour in hours], capacity)
    return Patterns(
        first_day=first_day,
        last_day=last_day,
        months=months,
        hours_by_month={site: list(map(hours_of_us, used_by_month[site])) for site in rules},
        month_totals=[
            hours_of_us(sum(used_by_month[site][index] for site in rules))
            for index in range(len(months))
        ],
        hours=hours,
        heat=heat,
        day_profile=day_profile,
        pass_members=_pass_members(members, months, users_by_month, network),
    )


def _open_days(sites: Iterable[SiteRules], first_day: date, last_day: date) -> dict[str, int]:
    """Each site's open days in the period; sites sharing a calendar (opening days, closed
    days, public holidays) count them once."""
    counted: dict[object, int] = {}
    open_days: dict[str, int] = {}
    for site in sites:
        key = (
            tuple(sorted(day for day, ranges in site.opening.items() if ranges)),
            site.open_on_public_holidays,
            site.closed,
        )
        if key not in counted:
            counted[key] = sum(1 for day in _days(first_day, last_day) if opening_ranges(site, day))
        open_days[site.id] = counted[key]
    return open_days


def _pass_members(
    members: Roster,
    months: Sequence[str],
    users_by_month: Sequence[set[str]],
    network: bool,
) -> list[int]:
    """For the network, every Pass counted once into the months it was valid on a day of (a
    network has tens of thousands of members: one pass over them, not one a month); for a
    selection, those of the month's users."""
    bounds = [month_bounds(key) for key in months]
    if not network:
        return [
            sum(1 for who in users if members.holds_pass(who, first, last))
            for (first, last), users in zip(bounds, users_by_month, strict=True)
        ]
    firsts = [first for first, _last in bounds]
    lasts = [last for _first, last in bounds]
    starts = [0] * (len(months) + 1)
    for since, until in members.passes.values():
        # Valid on a day of month i: pass_since <= its last day and pass_until >= its first.
        begin = bisect_left(lasts, since)
        end = len(months)
        if until is not None:
            end = bisect_right(firsts, until)
        if begin < end:
            starts[begin] += 1
            starts[end] -= 1
    counts, running = [], 0
    for index in range(len(months)):
        running += starts[index]
        counts.append(running)
    return counts
