"""Closing a month: its invoice lines and invoices stored as records (docs/rules.md, Invoices).

`close_month` runs in the caller's transaction and writes an audit entry; the caller commits:

>>> with sessions.begin() as session:                                   # doctest: +SKIP
...     closed = close_month(session, "2026-11", now=utcnow(), actor="cli:marie")

Every close first locks the one row of `billing_state` (an UPDATE, which waits for another
process's close to commit on PostgreSQL and takes SQLite's write lock), then reads the last
closed month and the sites' last invoice numbers under that lock: two hub processes closing
at once take turns, and numbers follow each other with no gap and no reuse.

Months close in order, each after the one before it (the first close may be any month): the
month an adjustment lands in is then simply the next one closed, and invoice numbers follow
the periods they bill.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from hub.people import audit
from hub.people.members import full_name
from hub.people.sites import load_sites
from hub.people.users import N_
from hub.presence.retention import years_before
from hub.reports import queries
from hub.rules import invoices as rules
from hub.rules import legal
from hub.rules.model import CENT, HOURS_QUANTUM, InvoiceLine, LineRate, SiteRules
from hub.store.db import insert_ignoring_conflicts
from hub.store.models import (
    BillingMonth,
    BillingState,
    Invoice,
    InvoiceRecord,
    Member,
    PresenceSession,
    Site,
)


@dataclass(frozen=True)
class IssuerGap:
    """A site whose invoices cannot be issued yet: the keys of its `invoicing` missing
    (`hub.rules.legal.IDENTITY`)."""

    site: str
    missing: tuple[str, ...]


class CannotClose(ValueError):
    """Why a month cannot be closed: `message` (English, marked for the console's catalog)
    with its `params`; `blocking` lists the open sessions that stop it, `gaps` the issuing
    sites whose legal identity is incomplete."""

    def __init__(
        self,
        message: str,
        blocking: list[queries.SessionRow] | None = None,
        gaps: list[IssuerGap] | None = None,
        **params: object,
    ) -> None:
        super().__init__(message % params)
        self.message = message
        self.params = params
        self.blocking = blocking or []
        self.gaps = gaps or []


@dataclass(frozen=True)
class Closed:
    month: str
    lines: int
    adjustments: int
    invoices: int
    total_eur: Decimal


# --- Money and hours as stored (exact integers) -----------------------------------------------


def cents(amount: Decimal) -> int:
    return int(amount / CENT)


def euros(stored: int) -> Decimal:
    return Decimal(stored) * CENT


def _e4(hours: Decimal) -> int:
    return int(hours / HOURS_QUANTUM)


def hours(stored: int) -> Decimal:
    return Decimal(stored) * HOURS_QUANTUM


# --- Which months are closed ------------------------------------------------------------------


def closed_months(session: Session) -> set[str]:
    return set(session.scalars(select(BillingMonth.month)))


def is_closed(session: Session, month: str) -> bool:
    return session.get(BillingMonth, month) is not None


def last_closed(session: Session) -> str | None:
    return session.scalar(select(func.max(BillingMonth.month)))


def _lock(session: Session, now: datetime) -> str | None:
    """Wait for any other close to finish, then hold the close's lock until commit; the
    last closed month as the lock's holder sees it."""
    session.execute(insert_ignoring_conflicts(session, BillingState).values(id=1))
    session.execute(update(BillingState).where(BillingState.id == 1).values(updated_at=now))
    return session.scalar(select(BillingState.last_closed).where(BillingState.id == 1))


def closable_from(session: Session, month: str) -> datetime:
    """The first moment `month` may be closed: once it has ended in Paris and at every site,
    each in its own time zone (`rules.closable_from`)."""
    return rules.closable_from(month, set(session.scalars(select(Site.timezone))))


def first_whole_day(moment: datetime) -> date:
    """The first day in Paris that starts at or after `moment`: "from that day" is then
    true of its every minute, even for a site in a later time zone."""
    local = moment.astimezone(ZoneInfo(rules.NETWORK_ZONE))
    day = local.date()
    return day if local.time() == time() else date.fromordinal(day.toordinal() + 1)


def _check(session: Session, month: str, now: datetime, previous: str | None) -> None:
    if is_closed(session, month):
        raise CannotClose(N_("%(month)s is already closed."), month=month)
    if previous is not None and month != rules.next_month(previous):
        if month < previous:
            raise CannotClose(
                N_("%(month)s is before %(last)s, the last month closed."),
                month=month,
                last=previous,
            )
        raise CannotClose(
            N_("Months close in order: close %(next)s before %(month)s."),
            month=month,
            next=rules.next_month(previous),
        )
    start = closable_from(session, month)
    if now < start:
        raise CannotClose(
            N_("%(month)s has not ended: it can be closed from %(day)s."),
            month=month,
            day=first_whole_day(start),
        )
    blocking = queries.open_sessions(session, month)
    if blocking:
        raise CannotClose(
            N_("Stays of %(month)s still open: %(count)d. Close them first."),
            blocking,
            count=len(blocking),
            month=month,
        )


# --- What the invoices must say of their issuer and customer ---------------------------------


def issuer_gaps(session: Session, sites: Collection[str]) -> list[IssuerGap]:
    """The sites among `sites` that lack part of what an invoice must say of its issuer,
    by site id."""
    found = session.scalars(select(Site).where(Site.id.in_(sorted(sites))).order_by(Site.id))
    gaps = [IssuerGap(site.id, tuple(legal.missing_identity(site.invoicing))) for site in found]
    return [gap for gap in gaps if gap.missing]


@dataclass(frozen=True)
class CloseWarnings:
    """What closing a month as its lines stand now would issue without: the issuing sites'
    missing legal identity (the close is refused until it is given) and the members who
    would get an invoice without a postal address (issued all the same: a consumer's invoice
    may go without, a business's should not)."""

    gaps: list[IssuerGap]
    #: The members concerned, (id, name) by name.
    unaddressed: list[tuple[str, str]]


def close_warnings(session: Session, billing: MonthBilling) -> CloseWarnings:
    """What the close page warns of for an open month, from its own lines (the adjustments
    of earlier months, worked out at the close, may add an issuing site: the close checks
    again)."""
    charges = ((line.site, line.member_id, line.amount_eur) for line in billing.lines)
    pairs = {(n.site, n.member_id) for n in rules.number_invoices(charges, {}, order=str)}
    who = _members(session, {member_id for _site, member_id in pairs})
    unaddressed = sorted(
        {(m, who[m].name) for _s, m in pairs if m in who and not who[m].address},
        key=lambda member: (sort_key(member[1]), member[0]),
    )
    return CloseWarnings(issuer_gaps(session, {site for site, _m in pairs}), unaddressed)


# --- Closing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Who:
    name: str
    email: str | None
    address: str | None


def _members(session: Session, ids: Collection[str]) -> dict[str, _Who]:
    found: dict[str, _Who] = {}
    ordered = sorted(ids)
    for start in range(0, len(ordered), 500):
        rows = session.execute(
            select(
                Member.id, Member.first_name, Member.last_name, Member.email, Member.address
            ).where(Member.id.in_(ordered[start : start + 500]))
        )
        for id_, first, last, email, address in rows:
            found[id_] = _Who(full_name(first, last), email, address)
    return found


def hourly_eur(site: SiteRules, rate: str) -> Decimal | None:
    """A line's hourly rate: its rate set's, None when free or mixed (no one rate)."""
    if rate == "public":
        return site.public.hourly
    if rate == "pass":
        return site.pass_.hourly
    return None


def _hourly(site: SiteRules, rate: LineRate) -> int | None:
    hourly = hourly_eur(site, rate)
    return None if hourly is None else cents(hourly)


def _recorded(session: Session, month: str) -> list[rules.Recorded]:
    rows = session.execute(
        select(
            InvoiceRecord.member_id,
            InvoiceRecord.site_id,
            InvoiceRecord.hours_e4,
            InvoiceRecord.free_hours_e4,
            InvoiceRecord.billed_hours_e4,
            InvoiceRecord.amount_cents,
        ).where(
            or_(
                (InvoiceRecord.month == month) & InvoiceRecord.corrects.is_(None),
                InvoiceRecord.corrects == month,
            )
        )
    )
    return [
        rules.Recorded(
            member,
            site,
            month,
            rules.Figures(hours(h), hours(free), hours(billed), euros(amount)),
        )
        for member, site, h, free, billed, amount in rows
    ]


def pending_adjustments(
    session: Session, now: datetime, sessions_retention_years: int
) -> list[rules.Adjustment]:
    """The corrections of the closed months since their close, which the next close will
    carry. Months whose sessions retention may have pseudonymised (a whole local year goes
    at once) are not looked at: their members can no longer be worked out."""
    first = f"{years_before(now, sessions_retention_years).year + 1:04d}-01"
    months = sorted(month for month in closed_months(session) if month >= first)
    found: list[rules.Adjustment] = []
    for month in months:
        recorded = _recorded(session, month)
        recomputed = queries.billing(session, month).lines
        members = {line.member_id for line in recomputed} | {r.member_id for r in recorded}
        known = set(_members(session, members))
        found += rules.adjustments(month, recomputed, recorded, billable=known.__contains__)
    return found


@dataclass(frozen=True)
class _Charge:
    """One line about to be stored: the month's own (`corrects` None) or an adjustment."""

    member_id: str
    site: str
    corrects: str | None
    rate: LineRate
    figures: rules.Figures


def _charges(lines: list[InvoiceLine], found: list[rules.Adjustment]) -> list[_Charge]:
    own = [
        _Charge(line.member_id, line.site, None, line.rate, rules.figures(line)) for line in lines
    ]
    corrections = [_Charge(a.member_id, a.site, a.corrects, a.rate, a.figures) for a in found]
    return own + corrections


def _issuer(site: Site) -> dict[str, object]:
    details = dict(site.invoicing)
    details.setdefault("issuer", site.name)
    details.setdefault("prefix", site.id.upper())
    details.setdefault("vat_exemption", rules.DEFAULT_VAT_EXEMPTION)
    return {"site_name": site.name, "commune": site.commune, **details}


def vat_of(issuer: Mapping[str, object]) -> rules.Vat:
    rate = issuer.get("vat_rate")
    exemption = str(issuer.get("vat_exemption") or rules.DEFAULT_VAT_EXEMPTION)
    return rules.Vat(None if rate is None else Decimal(str(rate)), exemption)


def close_month(
    session: Session,
    month: str,
    *,
    now: datetime,
    actor: str,
    sessions_retention_years: int = 5,
) -> Closed:
    """Store `month`'s invoice lines, the corrections of earlier closed months, and one
    invoice per member × site with something to pay or refund. Raises `CannotClose`."""
    previous = _lock(session, now)
    _check(session, month, now, previous)

    lines = queries.billing(session, month).lines
    found = pending_adjustments(session, now, sessions_retention_years)
    charges = _charges(lines, found)
    who = _members(session, {charge.member_id for charge in charges})
    sites = {site.id: site for site in session.scalars(select(Site))}
    site_rules = load_sites(session)
    last_numbers = {
        site: number
        for site, number in session.execute(
            select(Invoice.site_id, func.max(Invoice.number)).group_by(Invoice.site_id)
        )
    }
    numbered = rules.number_invoices(
        ((c.site, c.member_id, c.figures.amount_eur) for c in charges),
        last_numbers,
        order=lambda member_id: sort_key(who[member_id].name),
    )

    gaps = issuer_gaps(session, {item.site for item in numbered})
    if gaps:
        raise CannotClose(
            N_(
                "Sites that would issue invoices lack their legal identity: %(count)d. "
                "Complete it on the sites page first."
            ),
            gaps=gaps,
            count=len(gaps),
        )
    session.add(BillingMonth(month=month, closed_at=now, closed_by=actor))
    session.flush()
    invoice_of: dict[int, Invoice] = {}
    for item in numbered:
        site = sites[item.site]
        issuer = _issuer(site)
        total = rules.totals((charges[i].figures.amount_eur for i in item.lines), vat_of(issuer))
        vat_rate = issuer.get("vat_rate")
        invoice = Invoice(
            site_id=item.site,
            number=item.number,
            reference=rules.reference(str(issuer["prefix"]), item.number),
            kind=rules.kind_of(total),
            month=month,
            issued_on=now.astimezone(ZoneInfo(site.timezone)).date(),
            member_id=item.member_id,
            net_cents=cents(total.net_eur),
            vat_rate=None if vat_rate is None else str(vat_rate),
            vat_cents=cents(total.vat_eur),
            total_cents=cents(total.total_eur),
            issuer=issuer,
        )
        session.add(invoice)
        invoice_of.update((index, invoice) for index in item.lines)
    session.flush()
    for index, charge in enumerate(charges):
        person = who[charge.member_id]
        carried = invoice_of.get(index)
        session.add(
            InvoiceRecord(
                month=month,
                corrects=charge.corrects,
                invoice_id=None if carried is None else carried.id,
                member_id=charge.member_id,
                member_name=person.name,
                member_email=person.email,
                member_address=person.address,
                site_id=charge.site,
                rate_set=charge.rate,
                hours_e4=_e4(charge.figures.hours),
                free_hours_e4=_e4(charge.figures.free_hours),
                billed_hours_e4=_e4(charge.figures.billed_hours),
                hourly_cents=_hourly(site_rules[charge.site], charge.rate),
                amount_cents=cents(charge.figures.amount_eur),
            )
        )
    session.execute(update(BillingState).where(BillingState.id == 1).values(last_closed=month))
    result = Closed(
        month=month,
        lines=len(lines),
        adjustments=len(found),
        invoices=len(numbered),
        total_eur=sum((c.figures.amount_eur for c in charges), Decimal(0)),
    )
    audit.record(
        session,
        actor,
        "billing_closed",
        month=month,
        lines=result.lines,
        adjustments=result.adjustments,
        invoices=result.invoices,
        total_eur=str(result.total_eur),
    )
    return result


# --- Reading what was stored ------------------------------------------------------------------


def _note(line: StoredLine | BillLine) -> rules.LineNote | None:
    """Why a line's amount is not its hours × rate (`rules.line_note`), stored or open."""
    return rules.line_note(
        line.hourly_eur,
        line.billed_hours,
        line.free_hours,
        line.amount_eur,
        adjustment=line.corrects is not None,
    )


@dataclass(frozen=True)
class StoredLine:
    """A closed month's line as recorded, member as they were at the close."""

    id: int
    month: str
    corrects: str | None
    member_id: str
    member_name: str
    member_email: str | None
    member_address: str | None
    site: str
    rate: str
    hours: Decimal
    free_hours: Decimal
    billed_hours: Decimal
    hourly_eur: Decimal | None
    amount_eur: Decimal
    invoice_id: int | None

    @property
    def note(self) -> rules.LineNote | None:
        return _note(self)


def _stored_line(row: InvoiceRecord) -> StoredLine:
    return StoredLine(
        id=row.id,
        month=row.month,
        corrects=row.corrects,
        member_id=row.member_id,
        member_name=row.member_name,
        member_email=row.member_email,
        member_address=row.member_address,
        site=row.site_id,
        rate=row.rate_set,
        hours=hours(row.hours_e4),
        free_hours=hours(row.free_hours_e4),
        billed_hours=hours(row.billed_hours_e4),
        hourly_eur=None if row.hourly_cents is None else euros(row.hourly_cents),
        amount_eur=euros(row.amount_cents),
        invoice_id=row.invoice_id,
    )


def stored_lines(
    session: Session, month: str, *, sites: Collection[str] | None = None
) -> list[StoredLine]:
    """A closed month's lines (its own, then adjustments), by site, member, corrected month."""
    query = select(InvoiceRecord).where(InvoiceRecord.month == month)
    if sites is not None:
        query = query.where(InvoiceRecord.site_id.in_(sites))
    rows = session.scalars(
        query.order_by(
            InvoiceRecord.site_id,
            InvoiceRecord.member_id,
            InvoiceRecord.corrects.is_not(None),
            InvoiceRecord.corrects,
        )
    )
    return [_stored_line(row) for row in rows]


@dataclass(frozen=True)
class StoredInvoice:
    id: int
    reference: str
    kind: str
    site: str
    month: str
    issued_on: date
    member_id: str
    net_eur: Decimal
    vat_rate: Decimal | None
    vat_eur: Decimal
    total_eur: Decimal
    issuer: Mapping[str, object]
    lines: list[StoredLine]

    @property
    def member_name(self) -> str:
        return self.lines[0].member_name

    @property
    def member_email(self) -> str | None:
        return self.lines[0].member_email

    @property
    def member_address(self) -> str | None:
        return self.lines[0].member_address


def _stored_invoice(row: Invoice, lines: list[StoredLine]) -> StoredInvoice:
    return StoredInvoice(
        id=row.id,
        reference=row.reference,
        kind=row.kind,
        site=row.site_id,
        month=row.month,
        issued_on=row.issued_on,
        member_id=row.member_id,
        net_eur=euros(row.net_cents),
        vat_rate=None if row.vat_rate is None else Decimal(row.vat_rate),
        vat_eur=euros(row.vat_cents),
        total_eur=euros(row.total_cents),
        issuer=row.issuer,
        lines=lines,
    )


def invoices(
    session: Session, month: str, *, sites: Collection[str] | None = None
) -> list[StoredInvoice]:
    """A closed month's invoices, by site and number, with their lines."""
    query = select(Invoice).where(Invoice.month == month)
    if sites is not None:
        query = query.where(Invoice.site_id.in_(sites))
    rows = list(session.scalars(query.order_by(Invoice.site_id, Invoice.number)))
    by_invoice: dict[int, list[StoredLine]] = {}
    for line in stored_lines(session, month, sites=sites):
        if line.invoice_id is not None:
            by_invoice.setdefault(line.invoice_id, []).append(line)
    return [_stored_invoice(row, by_invoice.get(row.id, [])) for row in rows]


def invoice_ids(
    session: Session, month: str, *, sites: Collection[str] | None = None
) -> dict[str, int]:
    """A closed month's invoice ids by reference: what a page links to, without the invoices'
    lines and issuers (`invoices`), which a month of 2,000 members takes long to read."""
    query = select(Invoice.reference, Invoice.id).where(Invoice.month == month)
    if sites is not None:
        query = query.where(Invoice.site_id.in_(sites))
    return {reference: id_ for reference, id_ in session.execute(query)}


def invoice(
    session: Session, invoice_id: int, *, sites: Collection[str] | None = None
) -> StoredInvoice | None:
    """One invoice, None if there is none or its site is not in `sites`."""
    row = session.get(Invoice, invoice_id)
    if row is None or (sites is not None and row.site_id not in sites):
        return None
    lines = session.scalars(
        select(InvoiceRecord)
        .where(InvoiceRecord.invoice_id == invoice_id)
        .order_by(InvoiceRecord.corrects.is_not(None), InvoiceRecord.corrects)
    )
    return _stored_invoice(row, [_stored_line(line) for line in lines])


# --- A month's billing, closed or open: what the API, the console and the CLI show -------------


def sort_key(name: str) -> str:
    """A name as a French list orders it: Élodie with the E, not after Z."""
    return "".join(
        c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c)
    ).casefold()


@dataclass(frozen=True)
class BillLine:
    member_id: str
    member_name: str | None
    site: str
    #: The month the figures are about: the line's own, or the one an adjustment corrects.
    month: str
    #: For an adjustment, the closed month it corrects.
    corrects: str | None
    hours: Decimal
    free_hours: Decimal
    billed_hours: Decimal
    rate: str
    amount_eur: Decimal
    #: The invoice that carries it (closed months only).
    invoice: str | None = None
    #: Its rate set's hourly rate (as stored, for a closed month); None when free or mixed.
    hourly_eur: Decimal | None = None

    @property
    def note(self) -> rules.LineNote | None:
        return _note(self)


@dataclass(frozen=True)
class MemberTotal:
    member_id: str
    member_name: str | None
    total_eur: Decimal


@dataclass(frozen=True)
class SiteTotal:
    site: str
    hours: Decimal
    free_hours: Decimal
    billed_hours: Decimal
    total_eur: Decimal


@dataclass(frozen=True)
class MonthBilling:
    month: str
    closed: bool
    closed_at: datetime | None
    lines: list[BillLine]
    total_eur: Decimal

    @property
    def members(self) -> list[MemberTotal]:
        """A total per member, by name: what each owes over the sites."""
        sums: dict[str, Decimal] = {}
        names: dict[str, str | None] = {}
        for line in self.lines:
            sums[line.member_id] = sums.get(line.member_id, Decimal(0)) + line.amount_eur
            names[line.member_id] = line.member_name
        return sorted(
            (MemberTotal(member, names[member], total) for member, total in sums.items()),
            key=lambda row: (sort_key(row.member_name or ""), row.member_id),
        )

    @property
    def by_site(self) -> list[SiteTotal]:
        """A total per site (each issues its own invoices), by site id."""
        sums: dict[str, list[Decimal]] = {}
        for line in self.lines:
            figures = (line.hours, line.free_hours, line.billed_hours, line.amount_eur)
            found = sums.setdefault(line.site, [Decimal(0)] * 4)
            sums[line.site] = [total + figure for total, figure in zip(found, figures, strict=True)]
        return [SiteTotal(site, *figures) for site, figures in sorted(sums.items())]


def billing_steps(session: Session) -> dict[str, int]:
    """Each site's billing step in minutes: every stay is billed rounded up to it, which is
    why a month's billed hours may exceed its hours used."""
    return {site: step for site, step in session.execute(select(Site.id, Site.rounding_min))}


def first_month(session: Session, sites: Collection[str] | None = None) -> str | None:
    """The first month with something to bill or billed at `sites` (None: every site): the
    month of their first stay (in Paris) or the first month closed; None before any."""
    chosen = list(session.scalars(select(Site.id))) if sites is None else list(sites)
    starts = [
        session.scalar(
            select(func.min(PresenceSession.start)).where(PresenceSession.site_id == site)
        )
        for site in chosen  # one index lookup each (sessions are indexed by site, then start)
    ]
    months = [
        start.astimezone(ZoneInfo(rules.NETWORK_ZONE)).strftime("%Y-%m")
        for start in starts
        if start is not None
    ]
    closed = session.scalar(select(func.min(BillingMonth.month)))
    return min([*months, *([closed] if closed else [])], default=None)


def month_billing(
    session: Session, month: str, *, sites: Collection[str] | None = None
) -> MonthBilling:
    """A closed month from its stored lines, as they were at the close (whatever happened to
    the sessions and the members since); an open month worked out from today's sessions."""
    closed = session.get(BillingMonth, month)
    if closed is not None:
        references = {
            id_: reference
            for id_, reference in session.execute(
                select(Invoice.id, Invoice.reference).where(Invoice.month == month)
            )
        }
        stored = stored_lines(session, month, sites=sites)
        lines = [
            BillLine(
                member_id=line.member_id,
                member_name=line.member_name,
                site=line.site,
                month=line.corrects or line.month,
                corrects=line.corrects,
                hours=line.hours,
                free_hours=line.free_hours,
                billed_hours=line.billed_hours,
                rate=line.rate,
                amount_eur=line.amount_eur,
                invoice=None if line.invoice_id is None else references[line.invoice_id],
                hourly_eur=line.hourly_eur,
            )
            for line in stored
        ]
        total = sum((line.amount_eur for line in lines), Decimal(0))
        return MonthBilling(month, True, closed.closed_at, lines, total)
    result = queries.billing(session, month, sites=sites)
    site_rules = load_sites(session)
    names = {
        member: who.name
        for member, who in _members(session, {line.member_id for line in result.lines}).items()
    }
    lines = [
        BillLine(
            member_id=line.member_id,
            member_name=names.get(line.member_id),
            site=line.site,
            month=line.month,
            corrects=None,
            hours=line.hours,
            free_hours=line.free_hours,
            billed_hours=line.billed_hours,
            rate=line.rate,
            amount_eur=line.amount_eur,
            hourly_eur=hourly_eur(site_rules[line.site], line.rate),
        )
        for line in result.lines
    ]
    return MonthBilling(month, False, None, lines, result.total_eur)
