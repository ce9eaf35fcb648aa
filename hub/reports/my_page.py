"""What a member reads about themselves in their own space: where they are now, their stays
and hours this month and the months before, their invoices, their Pass and their badges.

Everything is read for one member id, which the caller takes from the member's own session:
nothing here can name another member. Hours are those of the sessions report
(`hub.reports.queries.sessions`), the API's, so the member and the staff read the same figure.

>>> with sessions() as session:                                      # doctest: +SKIP
...     page = my_page(session, "M0001", now=utcnow())
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.people.members import BadgeView, MemberView
from hub.people.members import get as get_member
from hub.people.names import site_labels
from hub.reports.invoicing import euros
from hub.reports.queries import SessionRow, month_bounds, sessions
from hub.rules.billing import add_months, free_months_left, last_free_day
from hub.rules.presence import DEFAULT_MAX_SESSION_H
from hub.store.models import AccessListVersion, Device, Invoice, PresenceSession

#: The months shown, this one included.
MONTHS_SHOWN = 12


@dataclass(frozen=True)
class SiteHours:
    site: str
    sessions: int
    hours: Decimal


@dataclass(frozen=True)
class MonthHours:
    month: str
    #: By site name.
    sites: list[SiteHours]

    @property
    def sessions(self) -> int:
        return sum(row.sessions for row in self.sites)

    @property
    def hours(self) -> Decimal:
        return sum((row.hours for row in self.sites), Decimal(0))


@dataclass(frozen=True)
class Presence:
    site: str
    since: datetime


@dataclass(frozen=True)
class MyInvoice:
    id: int
    reference: str
    kind: str
    site: str
    month: str
    issued_on: date
    total_eur: Decimal


@dataclass(frozen=True)
class MyPass:
    since: date
    until: date | None
    last_free_day: date
    free_months_left: int


@dataclass(frozen=True)
class MyPage:
    member: MemberView
    #: Where they are now (an open stay), None when not present.
    present: Presence | None
    #: This month first, then the months before, only those with stays.
    months: list[MonthHours]
    #: This month's stays, newest first.
    stays: list[SessionRow]
    invoices: list[MyInvoice]
    pass_: MyPass | None
    badges: tuple[BadgeView, ...]
    #: `{site id: "Name (Town)"}` of every site named on the page.
    site_names: dict[str, str]


def _present(
    session: Session, member_id: str, now: datetime, max_session_h: float
) -> Presence | None:
    row = session.scalars(
        select(PresenceSession)
        .where(
            PresenceSession.member_id == member_id,
            PresenceSession.end.is_(None),
            PresenceSession.start >= now - timedelta(hours=max_session_h),
        )
        .order_by(PresenceSession.start.desc())
    ).first()
    return None if row is None else Presence(row.site_id, row.start)


def _months(rows: list[SessionRow], names: dict[str, str]) -> list[MonthHours]:
    counts: dict[tuple[str, str], int] = defaultdict(int)
    hours: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for row in rows:
        key = (row.start.strftime("%Y-%m"), row.site)
        counts[key] += 1
        hours[key] += row.hours or Decimal(0)
    months: dict[str, list[SiteHours]] = defaultdict(list)
    for month, site in sorted(counts, key=lambda key: (key[0], names.get(key[1], key[1]))):
        months[month].append(SiteHours(site, counts[month, site], hours[month, site]))
    return [MonthHours(month, months[month]) for month in sorted(months, reverse=True)]


def _invoices(session: Session, member_id: str) -> list[MyInvoice]:
    rows = session.scalars(
        select(Invoice)
        .where(Invoice.member_id == member_id)
        .order_by(Invoice.month.desc(), Invoice.site_id, Invoice.number)
    )
    return [
        MyInvoice(
            row.id,
            row.reference,
            row.kind,
            row.site_id,
            row.month,
            row.issued_on,
            euros(row.total_cents),
        )
        for row in rows
    ]


def _pass(member: MemberView, today: date) -> MyPass | None:
    if member.pass_since is None:
        return None
    return MyPass(
        member.pass_since,
        member.pass_until,
        last_free_day(member.pass_since, member.pass_until),
        free_months_left(member.pass_since, member.pass_until, today),
    )


def my_page(
    session: Session,
    member_id: str,
    *,
    now: datetime,
    today: date,
    max_session_h: float = DEFAULT_MAX_SESSION_H,
) -> MyPage | None:
    """The member's page as of `now` (`today`: the local day); None if no such member."""
    member = get_member(session, member_id)
    if member is None:
        return None
    this_month = today.strftime("%Y-%m")
    first, _ = month_bounds(add_months(today.replace(day=1), 1 - MONTHS_SHOWN).strftime("%Y-%m"))
    _, last = month_bounds(this_month)
    rows = sessions(session, first, last, member=member_id, limit=100_000).rows
    names = site_labels(session)
    return MyPage(
        member=member,
        present=_present(session, member_id, now, max_session_h),
        months=_months(rows, names),
        stays=[row for row in reversed(rows) if row.start.strftime("%Y-%m") == this_month],
        invoices=_invoices(session, member_id),
        pass_=_pass(member, today),
        badges=member.badges,
        site_names=names,
    )


def invoice_of(session: Session, member_id: str, invoice_id: int) -> bool:
    """Whether invoice `invoice_id` is this member's (else: as if it did not exist)."""
    row = session.get(Invoice, invoice_id)
    return row is not None and row.member_id == member_id


@dataclass(frozen=True)
class DoorRefusal:
    """Whether a door refuses a badge stopped at some moment: it does once it applies a list
    issued after that moment (its status's `access_version`)."""

    device: str
    site: str
    online: bool
    #: The first list of the site issued after the badge stopped; None: not issued yet.
    needed: int | None
    applied: int | None

    @property
    def refuses(self) -> bool:
        return self.needed is not None and self.applied is not None and self.applied >= self.needed


def doors_after(session: Session, stopped_at: datetime) -> list[DoorRefusal]:
    """Every door of the network (a badge opens them all), by site then device."""
    needed = dict(
        session.execute(
            select(AccessListVersion.site_id, func.min(AccessListVersion.version))
            .where(AccessListVersion.issued >= stopped_at)
            .group_by(AccessListVersion.site_id)
        ).all()
    )
    devices = session.scalars(select(Device).order_by(Device.site, Device.id))
    return [
        DoorRefusal(d.id, d.site, d.state == "online", needed.get(d.site), d.access_version)
        for d in devices
    ]
