"""The hub's reports: the store read into the pure rules, plain data out for the API and CLI.

Every report takes `sites`, the ids it may look at (None: every site). The caller decides it
from who is asking, so an animator's report never even reads another site's rows.

A session belongs to the local day of its start (RULES.md rule 5), so a period is turned into
one UTC range per time zone, in the sites' own zone: a session starting at 00:30 on 1 November
in Murat is November's, though it is still 31 October in UTC. Filtering stays in SQL, which
keeps the sessions list's pages exact.

Choices where the contract is silent:
- Open sessions count as sessions in `usage` (someone came) but add no hours until closed,
  as in the evaluation and billing rules.
- Times are reported in the site's local time, with its offset.
- Billing leaves out sessions whose member was pseudonymised: after the retention period the
  month's invoice lines are the record, not a new computation.

>>> with sessionmaker() as session:                                     # doctest: +SKIP
...     page = sessions(session, date(2026, 10, 1), date(2026, 10, 31), sites={"murat"})
"""

from __future__ import annotations

import calendar as gregorian
from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import ClauseElement, and_, func, select
from sqlalchemy.orm import Session

from hub.doors.access_lists import latest_versions
from hub.people.sites import load_members, load_sites
from hub.presence import engine
from hub.reports.months import period_tallies, started_between
from hub.rules import model
from hub.rules.billing import invoice_lines
from hub.rules.devices import ACCESS_LIST_GRACE, Health, health
from hub.rules.evaluation import evaluate
from hub.rules.presence import DEFAULT_MAX_SESSION_H
from hub.store.models import RULE_COLUMNS, Device, Member, PresenceSession, utcnow
from telecentre import wire

UsageBy = Literal["member", "site", "month", "category"]
USAGE_BY: tuple[UsageBy, ...] = ("member", "site", "month", "category")

#: The days a report may ask about (API, CLI, console): wide enough for any real period,
#: narrow enough for every conversion of a day to instants (year 1 overflowed them).
EARLIEST_DAY, LATEST_DAY = date(2000, 1, 1), date(2100, 12, 31)


def report_day(text: str) -> date:
    """A day written exactly YYYY-MM-DD within EARLIEST_DAY..LATEST_DAY; ValueError says why."""
    day = wire.parse_date(text)
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        raise ValueError(f"{day} is outside {EARLIEST_DAY} to {LATEST_DAY}")
    return day


# --- From rows to the rules' plain data -------------------------------------------------------


def _load_sites(session: Session, sites: Collection[str] | None) -> dict[str, model.SiteRules]:
    """The sites' rules in id order, the order every report lists them in."""
    rules = load_sites(session, sites)
    return {site_id: rules[site_id] for site_id in sorted(rules)}


def month_bounds(month: str) -> tuple[date, date]:
    """First and last day of a "YYYY-MM" month."""
    year, number = (int(part) for part in month.split("-"))
    return date(year, number, 1), date(year, number, gregorian.monthrange(year, number)[1])


# --- Sessions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionRow:
    #: None once pseudonymised.
    member_id: str | None
    site: str
    start: datetime
    end: datetime | None
    hours: Decimal | None
    auto_closed: bool
    #: The stored session's id, which a correction names.
    id: int = 0
    #: `tap`, `auto`, `elsewhere`, `manual`; None while open.
    end_reason: str | None = None
    #: Made or corrected by a person (`hub.presence.corrections`): final, never recomputed.
    manual: bool = False
    #: Why, as the person said it.
    manual_reason: str | None = None


@dataclass(frozen=True)
class SessionPage:
    rows: list[SessionRow]
    #: Sessions matching, over every page.
    total: int
    #: The offset of the next page, None on the last one.
    next_offset: int | None


def sessions(
    session: Session,
    first: date,
    last: date,
    *,
    sites: Collection[str] | None = None,
    member: str | None = None,
    manual_only: bool = False,
    newest_first: bool = False,
    limit: int = 1000,
    offset: int = 0,
) -> SessionPage:
    """One page of sessions in start order (a stable order, so pages do not overlap);
    `newest_first` for a screen, where the latest stays are what one looks for."""
    rules = _load_sites(session, sites)
    condition = started_between(rules, first, last)
    if member is not None:
        condition = and_(condition, PresenceSession.member_id == member)
    if manual_only:
        condition = and_(condition, PresenceSession.manual)
    order = (PresenceSession.start, PresenceSession.id)
    total = session.scalar(select(func.count()).select_from(PresenceSession).where(condition)) or 0
    query = (
        select(PresenceSession)
        .where(condition)
        .order_by(*(column.desc() for column in order) if newest_first else order)
        .limit(limit)
        .offset(offset)
    )
    rows = [_session_row(row, rules[row.site_id]) for row in session.scalars(query)]
    return SessionPage(rows, total, offset + limit if offset + limit < total else None)


def _session_row(row: PresenceSession, site: model.SiteRules) -> SessionRow:
    duration = None if row.end is None else model.elapsed(row.start, row.end)
    return SessionRow(
        member_id=row.member_id,
        site=row.site_id,
        start=row.start.astimezone(site.zone),
        end=None if row.end is None else row.end.astimezone(site.zone),
        hours=None if duration is None else model.to_hours(duration),
        auto_closed=row.auto_closed,
        id=row.id,
        end_reason=row.end_reason,
        manual=row.manual,
        manual_reason=row.manual_reason,
    )


def session_by_id(
    session: Session, session_id: int, *, sites: Collection[str] | None = None
) -> SessionRow | None:
    """One session, if it is at one of `sites` (None: any): a page that corrects a session
    finds nothing of another site's."""
    row = session.get(PresenceSession, session_id)
    if row is None or (sites is not None and row.site_id not in sites):
        return None
    rules = load_sites(session, {row.site_id})
    return _session_row(row, rules[row.site_id]) if row.site_id in rules else None


# --- Usage ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UsageRow:
    #: A member id (None for pseudonymised sessions), a site id, a "YYYY-MM" month or a
    #: category (`independent`, `employee`, `mobile`, `other`, `unknown`).
    key: str | None
    sessions: int
    hours: Decimal


@dataclass(frozen=True)
class Usage:
    by: UsageBy
    rows: list[UsageRow]
    total_hours: Decimal


def usage(
    session: Session,
    first: date,
    last: date,
    by: UsageBy,
    *,
    sites: Collection[str] | None = None,
) -> Usage:
    rules = _load_sites(session, sites)
    counts: dict[str | None, int] = defaultdict(int)
    durations: dict[str | None, timedelta] = defaultdict(timedelta)
    rows = session.scalars(select(PresenceSession).where(started_between(rules, first, last)))
    # By category: the member's as the members file says it, `unknown` once pseudonymised.
    members = load_members(session) if by == "category" else {}
    for row in rows:
        key: str | None
        if by == "member":
            key = row.member_id
        elif by == "site":
            key = row.site_id
        elif by == "category":
            known = members.get(row.member_id or "")
            key = known.category if known else "unknown"
        else:
            key = rules[row.site_id].local_date(row.start).strftime("%Y-%m")
        counts[key] += 1
        if row.end is not None:
            durations[key] += model.elapsed(row.start, row.end)
    keys = sorted(counts, key=lambda key: (key is None, key or ""))
    return Usage(
        by=by,
        rows=[UsageRow(key, counts[key], model.to_hours(durations[key])) for key in keys],
        total_hours=model.to_hours(sum(durations.values(), timedelta())),
    )


# --- Billing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Billing:
    month: str
    lines: list[model.InvoiceLine]
    total_eur: Decimal


def billing(session: Session, month: str, *, sites: Collection[str] | None = None) -> Billing:
    """The invoice lines of `month` ("YYYY-MM") for the sites, by hub.rules.billing."""
    rules = _load_sites(session, sites)
    first, last = month_bounds(month)
    rows = session.execute(
        select(*RULE_COLUMNS).where(
            started_between(rules, first, last), PresenceSession.member_id.is_not(None)
        )
    )
    stays = [
        model.Session(member_id, site_id, start, end, auto)
        for member_id, site_id, start, end, auto in rows
        if member_id is not None  # as the query asks: for the type checker
    ]
    members = load_members(session, {stay.member_id for stay in stays})
    lines = invoice_lines(month, stays, members, rules)
    return Billing(month, lines, sum((line.amount_eur for line in lines), Decimal(0)))


def open_sessions(session: Session, month: str) -> list[SessionRow]:
    """The sessions of `month` still open at any site: what stops the month from closing."""
    rules = _load_sites(session, None)
    first, last = month_bounds(month)
    rows = session.scalars(
        select(PresenceSession)
        .where(started_between(rules, first, last), PresenceSession.end.is_(None))
        .order_by(PresenceSession.start, PresenceSession.id)
    )
    return [_session_row(row, rules[row.site_id]) for row in rows]


# --- Evaluation -------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvaluationReport:
    first_day: date
    last_day: date
    total: model.Figures
    by_site: Mapping[str, model.Figures]
    #: The ZRR / non-ZRR split; None for a one-site report, where it would say nothing more.
    zrr: model.Figures | None
    non_zrr: model.Figures | None


def _driver_rows(session: Session, statement: ClauseElement) -> list[tuple[Any, ...]]:
    """The rows of a statement without parameters, straight from the driver's cursor on the
    session's connection: twice as fast as result rows for tens of thousands of them, with
    the driver's own values (SQLite: dates as text). The session's pending changes are
    flushed first, as `session.execute` would."""
    session.flush()
    connection = session.connection()
    cursor = connection.connection.cursor()
    try:
        cursor.execute(str(statement.compile(connection)))
        return list(cursor.fetchall())
    finally:
        cursor.close()


def _day(value: date | str) -> date:
    """A day as the driver gives it: a `date`, or ISO text on SQLite."""
    return date.fromisoformat(value) if isinstance(value, str) else value


def load_roster(session: Session) -> model.Roster:
    """Every member's category and Pass as the evaluation reads them: a national network's
    50,000 members read as `Member`s took longer than the figures themselves."""
    category_of: dict[str, str] = dict(_driver_rows(session, select(Member.id, Member.category)))
    passes: dict[str, tuple[date, date | None]] = {}
    for member_id, since, until in _driver_rows(
        session,
        select(Member.id, Member.pass_since, Member.pass_until).where(
            Member.pass_since.is_not(None)
        ),
    ):
        passes[member_id] = (_day(since), None if until is None else _day(until))
    return model.Roster(category_of, passes)


def evaluation(
    session: Session,
    first: date,
    last: date,
    *,
    site: str | None = None,
    sites: Collection[str] | None = None,
) -> EvaluationReport:
    """RULES.md's figures for the network, one site alone (`site`), or a selection of sites
    (`sites`, as the console's reports page chooses them).

    For one site or a selection, `total` is that scope's own figures (its Pass members are
    those who used it), so nothing of the network's other sites shows through; one site has
    no ZRR split (it would only repeat, or be, nothing but that site).
    """
    chosen = {site} if site is not None else sites
    rules = _load_sites(session, chosen)
    tallies = period_tallies(
        session, rules, first, last, every_site=chosen is None, slots=False, years=True
    )
    result = evaluate(
        rules.values(), load_roster(session), tallies, first, last, network=chosen is None
    )
    if site is not None or (chosen is not None and len(rules) < 2):
        return EvaluationReport(first, last, result.total, dict(result.by_site), None, None)
    return EvaluationReport(first, last, result.total, result.by_site, result.zrr, result.non_zrr)


# --- Occupancy now ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SiteOccupancy:
    site: str
    present: int
    positions: int
    #: Earliest arrival first, `since` in the site's local time.
    members: list[engine.Present]


def occupancy(
    session: Session,
    now: datetime,
    *,
    sites: Collection[str] | None = None,
    max_session_h: float = DEFAULT_MAX_SESSION_H,
) -> list[SiteOccupancy]:
    """Who is in each site at `now`, every site listed even when empty.

    The presence engine decides who is present, so this report agrees with the occupancy
    screens: a session left open past its auto-close moment no longer counts.
    """
    rules = _load_sites(session, sites)
    report = []
    for site_id, site in rules.items():
        present = engine.occupancy(session, site, now, max_session_h=max_session_h)
        members = [engine.Present(p.member_id, p.since.astimezone(site.zone)) for p in present]
        report.append(SiteOccupancy(site_id, len(members), site.positions.total, members))
    return report


# --- Devices ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceRow:
    device: str
    site: str
    state: str
    last_seen: datetime | None
    queue: int | None
    clock_synced: bool | None
    version: str | None
    access_version: int | None
    #: The latest access list the hub issued for the device's site (None: none yet).
    latest_access_version: int | None
    health: Health


def devices(
    session: Session, *, sites: Collection[str] | None = None, now: datetime | None = None
) -> list[DeviceRow]:
    """Every edge device's last status. A device's site need not be imported yet: an edge
    may report before its site is, and staff must see it to notice."""
    query = select(Device).order_by(Device.site, Device.id)
    if sites is not None:
        query = query.where(Device.site.in_(sites))
    latest = latest_versions(session)
    settled = latest_versions(session, issued_before=(now or utcnow()) - ACCESS_LIST_GRACE)
    return [
        DeviceRow(
            device=device.id,
            site=device.site,
            state=device.state,
            last_seen=device.last_seen,
            queue=device.queue,
            clock_synced=device.clock_synced,
            version=device.version,
            access_version=device.access_version,
            latest_access_version=latest.get(device.site),
            health=health(
                access_version=device.access_version, settled_version=settled.get(device.site)
            ),
        )
        for device in session.scalars(query)
    ]
