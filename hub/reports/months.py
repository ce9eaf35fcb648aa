"""Each site's months of sessions summed up (`hub.rules.months`), kept in the store so that
a report reads a year from 12 rows a site, or one: a national network's year is half a
million sessions, which no page can read in time.

How a report stays exactly what every session says:
- triggers on `sessions` (migration 0016) mark the site and UTC day of every session
  inserted, deleted or updated, in the transaction of the change, whatever made it
  (`report_stale`);
- a report uses a stored month only when no mark may touch it (a local day is within a day
  of the UTC one) and it was summed up in the site's present zone; every other month of the
  period, and the days at its ends that do not make a whole month, are summed up from their
  sessions, by the same rule (`hub.rules.months.tally`);
- `refresh` (the hub's timer, `hub.service`) sums up again the months its marks touch and
  clears them, so the next report finds them stored;
- each site's year is kept too (`report_years`, its stored months summed up together, in
  the transaction that stores them): a report of whole years that needs no one's months
  (the figures, the network's charts) reads one row a site a year where none of its months
  may be touched by a mark, and the months of the others, as above.

The marks are read before the months: a refresh committed in between only makes a month read
from its sessions that could have been read stored.
"""

from __future__ import annotations

import logging
import time as clock
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping
from contextlib import AbstractContextManager
from datetime import date, datetime, time, timedelta
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Result,
    and_,
    delete,
    false,
    insert,
    null,
    or_,
    select,
    text,
    tuple_,
)
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from hub.people.sites import load_sites
from hub.rules import model
from hub.rules.months import (
    SLOTS,
    MonthTally,
    Tallies,
    YearTally,
    month_bounds,
    month_key,
    tally,
    year_tally,
)
from hub.rules.patterns import month_keys
from hub.store.models import PresenceSession, ReportMonth, ReportStale, ReportYear

log = logging.getLogger(__name__)

#: The longest a refresh waits for the sessions' writers on PostgreSQL, in ms.
LOCK_WAIT_MS = 2000
#: PostgreSQL's SQLSTATE for a lock not granted within `lock_timeout`.
LOCK_NOT_AVAILABLE = "55P03"

ONE_DAY = timedelta(days=1)
#: Marks cleared by one refresh transaction, about: a few thousand sessions summed up, so the
#: ingest never waits long for the database.
MARKS_PER_REFRESH = 2000
#: Marks a report sorts out at most (`_stale_months`): a day's changes of a large network.
MARKS_READ = 20_000


def started_between(
    rules: Mapping[str, model.SiteRules], first: date, last: date
) -> ColumnElement[bool]:
    """Sessions whose start falls on a local day of [first, last] at their own site.

    One UTC range per time zone, not per site: SQLite refuses an expression more than 1,000
    deep, which an OR of one range per site of a national network would be.
    """
    by_zone: dict[str, list[model.SiteRules]] = defaultdict(list)
    for site in rules.values():
        by_zone[site.timezone].append(site)
    ranges = []
    for sites in by_zone.values():
        zone = sites[0].zone
        start = datetime.combine(first, time(), zone)
        end = datetime.combine(last + ONE_DAY, time(), zone)
        ranges.append(
            and_(
                PresenceSession.site_id.in_([site.id for site in sites]),
                PresenceSession.start >= start,
                PresenceSession.start < end,
            )
        )
    return or_(*ranges) if ranges else false()


class _Stay(NamedTuple):
    """A session as the tally reads it (`hub.rules.months.Stay`)."""

    member_id: str
    site: str
    start: datetime
    end: datetime | None


def _stays(
    session: Session, rules: Mapping[str, model.SiteRules], first: date, last: date
) -> list[_Stay]:
    """The sessions of [first, last] at the `rules`' sites, as the tally reads them: the
    columns it reads only, no ORM objects."""
    rows = session.execute(
        select(
            PresenceSession.id,
            PresenceSession.member_id,
            PresenceSession.pseudonym,
            PresenceSession.site_id,
            PresenceSession.start,
            PresenceSession.end,
        ).where(started_between(rules, first, last))
    )
    return [
        # A pseudonymised session still stands for one distinct user in the figures.
        _Stay(member_id or pseudonym or f"session-{id_}", site_id, start, end)
        for id_, member_id, pseudonym, site_id, start, end in rows
    ]


def _joined(ranges: Iterable[tuple[date, date]]) -> list[tuple[date, date]]:
    """Ranges of days in order, those that follow each other joined: one query each."""
    joined: list[tuple[date, date]] = []
    for begin, end in ranges:
        if joined and joined[-1][1] + ONE_DAY == begin:
            begin = joined.pop()[0]
        joined.append((begin, end))
    return joined


def _stale_months(
    session: Session, sites: Collection[str] | None, first: date, last: date
) -> set[tuple[str, str]] | None:
    """(site, month) that a mark may touch, between the days `first` and `last`; None when
    there are more than MARKS_READ marks (after an upgrade or a bulk import, before the
    refresh caught up): then every month is read from its sessions, as fast as before the
    months were kept, rather than slower for sorting out millions of marks."""
    query = (
        select(ReportStale.site_id, ReportStale.day)
        .where(ReportStale.day.between(first - ONE_DAY, last + ONE_DAY))
        .limit(MARKS_READ + 1)
    )
    if sites is not None:
        query = query.where(ReportStale.site_id.in_(sites))
    marks = session.execute(query).all()
    if len(marks) > MARKS_READ:
        return None
    return {
        (site_id, month_key(day + shift * ONE_DAY))
        for site_id, day in marks
        for shift in (-1, 0, 1)
    }


def _whole_years(whole: list[str]) -> list[str]:
    """The years ("YYYY") all of whose months are in `whole` (months in order)."""
    count: dict[str, int] = defaultdict(int)
    for key in whole:
        count[key[:4]] += 1
    return [year for year, months in count.items() if months == 12]


def _stored(
    session: Session,
    table: type[ReportMonth] | type[ReportYear],
    low: str,
    high: str,
    sites: Collection[str] | None,
    slots: bool,
) -> Result[str, str, str, int, list[Any], list[Any] | None, list[Any] | None]:
    """The stored (site, key, zone, used_us, users, slots, months_us) of the keys [low,
    high] ("YYYY-MM" months or "YYYY" years) at `sites` (None: every site); slots and
    months_us None unless `slots`."""
    key = ReportMonth.month if table is ReportMonth else ReportYear.year
    months_us = ReportYear.months_us if table is ReportYear and slots else null()
    query = select(
        table.site_id,
        key,
        table.timezone,
        table.used_us,
        table.users,
        table.slots if slots else null(),
        months_us,
    ).where(key.between(low, high))
    if sites is not None:
        query = query.where(table.site_id.in_(sites))
    return session.execute(query)


def period_tallies(
    session: Session,
    rules: Mapping[str, model.SiteRules],
    first: date,
    last: date,
    *,
    every_site: bool = False,
    slots: bool = True,
    years: bool = False,
) -> Tallies:
    """The sessions of [first, last] at the `rules`' sites summed up by site and month:
    stored months where they are fresh, the rest from the sessions. `every_site`: `rules`
    are every site (no need to name them in the queries); `slots`: False when only the
    figures are wanted, not the charts (their stored slots are then left unread, zeros);
    `years`: a site's whole years of the period whose months are all fresh are one
    `YearTally` each (read from one stored row instead of twelve), for a caller that needs
    no one's months (the figures, the network's charts)."""
    sites = None if every_site else list(rules)
    whole = [
        key
        for key in month_keys(first, last)
        if first <= month_bounds(key)[0] and month_bounds(key)[1] <= last
    ]
    tallies: Tallies = {}
    stale = None
    if whole:
        stale = _stale_months(session, sites, month_bounds(whole[0])[0], month_bounds(whole[-1])[1])
    if stale is not None:
        # Ranges of months to read from the stored months, with the sites to read them at.
        reads: list[tuple[str, str, Collection[str] | None]] = []
        stored_years = _whole_years(whole) if years else []
        stale_years = {(site_id, month[:4]) for site_id, month in stale}
        for index, key in enumerate(whole):
            if key[:4] in stored_years:
                continue
            if reads and index and reads[-1][1] == whole[index - 1]:
                reads[-1] = (reads[-1][0], key, sites)
            else:
                reads.append((key, key, sites))
        for year in stored_years:
            for site_id, _year, zone, used_us, users, stored_slots, months_us in _stored(
                session, ReportYear, year, year, sites, slots
            ):
                site = rules.get(site_id)
                if site is None or zone != site.timezone:
                    continue
                if (site_id, year) in stale_years:
                    continue
                tallies[site_id, year] = YearTally(
                    users, used_us, stored_slots or [0] * SLOTS, months_us or [0] * 12
                )
            # The sites whose year is not stored, or has a stale month: from their months.
            rest = [site_id for site_id in rules if (site_id, year) not in tallies]
            if rest:
                every = every_site and len(rest) == len(rules)
                reads.append((f"{year}-01", f"{year}-12", None if every else rest))
        for low, high, read_at in reads:
            for site_id, month, zone, used_us, users, stored_slots, _none in _stored(
                session, ReportMonth, low, high, read_at, slots
            ):
                site = rules.get(site_id)
                if site is None or (site_id, month) in stale or zone != site.timezone:
                    continue
                tallies[site_id, month] = MonthTally(users, used_us, stored_slots or [0] * SLOTS)
    # The rest, from the sessions: each site's days not summed up above, as ranges of days.
    wanted: dict[tuple[date, date], list[str]] = defaultdict(list)
    period = [
        (month, month[:4], max(first, month_bounds(month)[0]), min(last, month_bounds(month)[1]))
        for month in month_keys(first, last)
    ]
    for site_id in rules:
        missing = [
            (begin, end)
            for month, year, begin, end in period
            if (site_id, month) not in tallies and (site_id, year) not in tallies
        ]
        for days in _joined(missing):
            wanted[days].append(site_id)
    for (begin, end), site_ids in wanted.items():
        chosen = {site_id: rules[site_id] for site_id in site_ids}
        tally(chosen, _stays(session, chosen, begin, end), begin, end, into=tallies)
    return tallies


# --- Keeping the stored months --------------------------------------------------------------


def _claim(session: Session) -> dict[str, list[date]]:
    """Clear every mark of the sites of the first MARKS_PER_REFRESH marks: their days, by
    site."""
    if session.get_bind().dialect.name == "postgresql":
        # Wait for the transactions writing sessions now, and hold the next ones until this
        # one commits: a change whose mark this clears is always in what is read below.
        # Not longer than LOCK_WAIT: while a long import holds sessions, later writers (the
        # live ingest) would queue behind this lock's request; the next minute tries again.
        session.execute(text(f"SET LOCAL lock_timeout = '{LOCK_WAIT_MS}ms'"))
        session.execute(text("LOCK TABLE sessions IN SHARE MODE"))
    first_marks = session.execute(
        select(ReportStale.site_id)
        .order_by(ReportStale.site_id, ReportStale.day)
        .limit(MARKS_PER_REFRESH)
    ).scalars()
    chosen = sorted(set(first_marks))
    if not chosen:
        return {}
    # The marks cleared are exactly those returned, whatever was written meanwhile; on
    # SQLite this first write takes the database's write lock, which the sessions read
    # below are then under.
    days: dict[str, list[date]] = defaultdict(list)
    for site_id, day in session.execute(
        delete(ReportStale)
        .where(ReportStale.site_id.in_(chosen))
        .returning(ReportStale.site_id, ReportStale.day)
    ):
        days[site_id].append(day)
    return days


def refresh_some(session: Session) -> int:
    """Sum up again the months that the marks of a few sites touch, in the caller's
    transaction; the number of marks cleared (0: nothing left to do)."""
    days = _claim(session)
    rules = load_sites(session, set(days))
    touched: dict[str, set[str]] = {
        site_id: {month_key(day + shift * ONE_DAY) for day in site_days for shift in (-1, 0, 1)}
        for site_id, site_days in days.items()
        if site_id in rules  # else a site deleted since: no report reads it
    }
    runs: dict[tuple[date, date], list[str]] = defaultdict(list)
    for site_id, months in touched.items():
        for run in _joined(month_bounds(month) for month in sorted(months)):
            runs[run].append(site_id)
    for (first, last), site_ids in runs.items():
        chosen = {site_id: rules[site_id] for site_id in site_ids}
        tallies = tally(chosen, _stays(session, chosen, first, last), first, last)
        keys = [
            (site_id, month)
            for site_id in site_ids
            for month in month_keys(first, last)
            if month in touched[site_id]
        ]
        session.execute(
            delete(ReportMonth).where(tuple_(ReportMonth.site_id, ReportMonth.month).in_(keys))
        )
        session.execute(
            insert(ReportMonth),
            [
                {
                    "site_id": site_id,
                    "month": month,
                    "timezone": chosen[site_id].timezone,
                    "used_us": summed.used_us,
                    "users": sorted(summed.users),
                    "slots": summed.slots,
                }
                for site_id, month in keys
                for summed in [tallies.get((site_id, month), MonthTally())]
            ],
        )
    _store_years(session, touched)
    return sum(len(site_days) for site_days in days.values())


def _store_years(session: Session, touched: Mapping[str, Collection[str]]) -> None:
    """Sum up again the years of the months just stored (site → "YYYY-MM"s), from every
    stored month of them; a year whose months were read in two zones is not kept (a report
    reads its months)."""
    by_year: dict[str, list[str]] = defaultdict(list)
    for site_id, site_months in touched.items():
        for year in sorted({month[:4] for month in site_months}):
            by_year[year].append(site_id)
    for year, site_ids in by_year.items():
        months: dict[str, dict[str, MonthTally]] = defaultdict(dict)
        zones: dict[str, set[str]] = defaultdict(set)
        for site_id, month, zone, used_us, users, slots, _none in _stored(
            session, ReportMonth, f"{year}-01", f"{year}-12", site_ids, slots=True
        ):
            months[site_id][month] = MonthTally(users, used_us, slots or [0] * SLOTS)
            zones[site_id].add(zone)
        session.execute(
            delete(ReportYear).where(ReportYear.year == year, ReportYear.site_id.in_(site_ids))
        )
        rows = [
            {
                "year": year,
                "site_id": site_id,
                "timezone": zone,
                "used_us": summed.used_us,
                "users": sorted(summed.users),
                "slots": summed.slots,
                "months_us": summed.months_us,
            }
            for site_id, site_months in months.items()
            if len(zones[site_id]) == 1
            for zone in zones[site_id]
            for summed in [year_tally(site_months)]
        ]
        if rows:
            session.execute(insert(ReportYear), rows)


def refresh(
    transaction: Callable[[], AbstractContextManager[Session]], *, until: float | None = None
) -> int:
    """Sum up again every month that changed, a few sites per transaction (`transaction()`:
    a session in a transaction of its own, as `sessionmaker.begin` gives), until no mark is
    left or the `time.monotonic()` deadline `until` passes; the number of marks cleared."""
    done = 0
    while until is None or clock.monotonic() < until:
        try:
            with transaction() as session:
                cleared = refresh_some(session)
        except OperationalError as error:
            if getattr(error.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE:
                raise
            log.info("report months: sessions busy (an import?), summed up at the next run")
            break
        if not cleared:
            break
        done += cleared
    return done
