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

A stay is cut at the hour boundaries in UTC, which are the local ones for the whole-hour
offsets of every zone the network uses, so a stay across a change of time is counted in real
time; each piece then goes to the local weekday and hour of its start.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from hub.rules.calendar import opening_ranges
from hub.rules.model import Member, Session, SiteRules, elapsed, to_hours

HOUR = timedelta(hours=1)
_MICROSECOND = timedelta(microseconds=1)
_HOUR_US = 3_600_000_000
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


def _add_pieces(
    site: SiteRules,
    local_start: datetime,
    end: datetime,
    slots: list[list[int]],
    by_hour: list[int],
) -> int:
    """Add a stay's time, in microseconds, to the hour slots of its local weekdays
    (`slots[weekday][hour]`) and to its site's hours of the day (`by_hour[hour]`); its
    length in microseconds.

    Counted from the local start when the stay keeps one UTC offset (nearly all do: the
    walk is then arithmetic, and a network's year is read for every page); a stay across a
    change of time is cut at the hour boundaries in UTC, each piece at its local hour."""
    local_end = end.astimezone(site.zone)
    length = elapsed(local_start, local_end) // _MICROSECOND
    if local_start.utcoffset() == local_end.utcoffset():
        weekday = local_start.weekday()
        position = (
            (local_start.hour * 60 + local_start.minute) * 60 + local_start.second
        ) * 1_000_000 + local_start.microsecond
        left = length
        while left > 0:
            hour = position // _HOUR_US
            if hour >= 24:
                weekday, position, hour = (weekday + 1) % 7, position - 24 * _HOUR_US, hour - 24
            piece = min(_HOUR_US * (hour + 1) - position, left)
            slots[weekday][hour] += piece
            by_hour[hour] += piece
            position += piece
            left -= piece
        return length
    moment, last = local_start.astimezone(UTC), end.astimezone(UTC)
    while moment < last:
        boundary = moment.replace(minute=0, second=0, microsecond=0) + HOUR
        piece_end = min(boundary, last)
        local = moment.astimezone(site.zone)
        piece = (piece_end - moment) // _MICROSECOND
        slots[local.weekday()][local.hour] += piece
        by_hour[local.hour] += piece
        moment = piece_end
    return length


def _share(used_us: int, capacity: timedelta) -> Decimal | None:
    if not capacity:
        return None
    ratio = Decimal(used_us) / Decimal(capacity // _MICROSECOND)
    return ratio.quantize(RATE_QUANTUM, rounding=ROUND_HALF_UP)


def patterns(
    sites: Iterable[SiteRules],
    members: Mapping[str, Member],
    sessions: Iterable[Session],
    first_day: date,
    last_day: date,
    *,
    network: bool = True,
) -> Patterns:
    """The series for [first_day, last_day]; every session's site must be in `sites`.
    `network`: the Pass members per month are every valid Pass (else those who came)."""
    rules = {site.id: site for site in sorted(sites, key=lambda site: site.id)}
    months = month_keys(first_day, last_day)
    month_index = {(int(key[:4]), int(key[5:])): index for index, key in enumerate(months)}
    used_by_month = {site: [0] * len(months) for site in rules}
    slots = [[0] * 24 for _ in range(7)]
    site_hours = {site: [0] * 24 for site in rules}
    users_by_month: list[set[str]] = [set() for _ in months]
    for session in sessions:
        site = rules.get(session.site)
        if site is None:
            raise ValueError(f"session at unknown site {session.site!r}")
        local_start = session.start.astimezone(site.zone)
        day = local_start.date()
        if not first_day <= day <= last_day:
            continue
        index = month_index[day.year, day.month]
        users_by_month[index].add(session.member_id)
        if session.end is None:
            continue
        used_by_month[site.id][index] += _add_pieces(
            site, local_start, session.end, slots, site_hours[site.id]
        )
    used_hours = [hour for hour in range(24) if any(slots[weekday][hour] for weekday in range(7))]
    hours = list(range(min([FIRST_HOUR, *used_hours]), max([LAST_HOUR, *used_hours]) + 1))
    weekdays = [0] * 7
    for day in _days(first_day, last_day):
        weekdays[day.weekday()] += 1
    positions = sum(site.positions.total for site in rules.values())
    heat = [
        [
            _share(slots[weekday][hour], HOUR * weekdays[weekday] * positions)
            if weekdays[weekday]
            else None
            for hour in hours
        ]
        for weekday in range(7)
    ]
    day_profile: dict[str, list[Decimal | None]] = {}
    for site in rules.values():
        open_days = sum(1 for day in _days(first_day, last_day) if opening_ranges(site, day))
        capacity = HOUR * open_days * site.positions.total
        day_profile[site.id] = [_share(site_hours[site.id][hour], capacity) for hour in hours]
    microseconds = _MICROSECOND
    return Patterns(
        first_day=first_day,
        last_day=last_day,
        months=months,
        hours_by_month={
            site: [to_hours(used * microseconds) for used in used_by_month[site]] for site in rules
        },
        month_totals=[
            to_hours(sum(used_by_month[site][index] for site in rules) * microseconds)
            for index in range(len(months))
        ],
        hours=hours,
        heat=heat,
        day_profile=day_profile,
        pass_members=_pass_members(members, months, users_by_month, network),
    )


def _pass_members(
    members: Mapping[str, Member],
    months: Sequence[str],
    users_by_month: Sequence[set[str]],
    network: bool,
) -> list[int]:
    counts = []
    for key, users in zip(months, users_by_month, strict=True):
        year, month = int(key[:4]), int(key[5:])
        first = date(year, month, 1)
        last = (date(year + month // 12, month % 12 + 1, 1)) - timedelta(days=1)
        holders = members.values() if network else (members[who] for who in users if who in members)
        counts.append(sum(1 for member in holders if member.pass_valid_between(first, last)))
    return counts
