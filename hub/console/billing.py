"""The billing page: a month's lines and a total per member, whether the month is open or
closed, the close (admin and department, confirmed), and the closed month's invoices as
Factur-X PDFs, one by one or as a zip.

Everything comes from `hub.reports.invoicing` (the API and the CLI call the same
functions), given the sites the user may see: an animator sees, and downloads, its sites'
lines and invoices only; another site's invoice answers 404.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar
from urllib.parse import urlencode

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from hub.api.reports import billing_csv
from hub.console.access import (
    actor,
    allowed_sites,
    login_required,
    me,
    roles_required,
    site_names,
)
from hub.console.forms import sites as site_form
from hub.console.forms.billing import CloseForm
from hub.console.i18n import gettext as _
from hub.console.periods import long_day, month_label
from hub.console.query import ReportChoice
from hub.console.services import console
from hub.people import members
from hub.reports import invoice_files, invoicing
from hub.reports.billing_table import RATE_WORDS, billing_table
from hub.reports.spreadsheets import french_csv
from hub.rules.patterns import month_keys

bp = Blueprint("billing", __name__, url_prefix="/reports")

T = TypeVar("T")

#: Members per page (each with all their lines): the CSV file holds every line.
PER_PAGE = 50


class _Choice(ReportChoice):
    """The month and sites asked for. The report pages' period (`from`, `to`) is carried
    along so that their tabs keep it."""

    #: The first month with stays or closed at the chosen sites (`invoicing.first_month`).
    first: str | None = None

    @property
    def months(self) -> list[str]:
        """From this month back to the first with data (not years of empty months), and the
        month asked for wherever it is."""
        first = min(self.first or self.today.strftime("%Y-%m"), self.today.strftime("%Y-%m"))
        months = month_keys(date(int(first[:4]), int(first[5:7]), 1), self.today)[::-1]
        return months if self.month in months else sorted([*months, self.month], reverse=True)

    def query(self, **changes: str) -> str:
        values = [(key, request.args[key]) for key in ("from", "to", "by") if key in request.args]
        values.append(("month", changes.get("month", self.month)))
        values += [("site", site) for site in self.chosen]
        return urlencode(values)


def _paged(rows: list[T], choice: _Choice) -> dict[str, Any]:
    """One page of members (with all their lines), and what the pagination macro needs."""
    pages = max(1, -(-len(rows) // PER_PAGE))
    page = min(choice.page, pages)

    def page_url(number: int) -> str:
        return f"{url_for('billing.index')}?{choice.query()}&page={number}"

    start = (page - 1) * PER_PAGE
    return {
        "rows": rows[start : start + PER_PAGE],
        "page": page,
        "pages": pages,
        "page_url": page_url,
    }


@dataclass(frozen=True)
class _MemberLines:
    total: invoicing.MemberTotal
    lines: list[invoicing.BillLine]


def _by_member(result: invoicing.MonthBilling) -> list[_MemberLines]:
    """The month's lines under each member's total, members by name."""
    lines: dict[str, list[invoicing.BillLine]] = {}
    for line in sorted(result.lines, key=lambda line: (line.site, line.month)):
        lines.setdefault(line.member_id, []).append(line)
    return [_MemberLines(total, lines[total.member_id]) for total in result.members]


@bp.get("/billing")
@login_required
def index() -> ResponseReturnValue:
    choice = _Choice()
    with console().sessions() as session:
        result = invoicing.month_billing(session, choice.month, sites=choice.sites)
        invoice_ids = (
            invoicing.invoice_ids(session, choice.month, sites=choice.sites)
            if result.closed
            else {}
        )
        pdfs = (
            invoice_files.pdfs_made(session, choice.month, sites=choice.sites)
            if result.closed
            else None
        )
        closable_from = invoicing.closable_from(session, choice.month)
        choice.first = invoicing.first_month(session, choice.sites)
        steps = invoicing.billing_steps(session)
    # The close, or the day it will be offered, for those who may close an open month.
    closer = me().account.role in ("admin", "department") and not result.closed
    ended = console().clock() >= closable_from
    names = site_names()
    # A close issues every site's invoices: the page's lines serve unless it shows fewer.
    every_site = result if choice.sites is None else None
    warnings = _close_warnings(choice.month, every_site) if closer and ended else None
    return render_template(
        "console/reports/billing.html",
        choice=choice,
        sites=names,
        month_label=month_label,
        result=result,
        paged=_paged(_by_member(result), choice),
        invoice_ids=invoice_ids,
        pdfs=pdfs,
        form=CloseForm(month=choice.month) if closer and ended else None,
        closes_on=(
            long_day(invoicing.first_whole_day(closable_from)) if closer and not ended else None
        ),
        rates={key: _(words) for key, words in RATE_WORDS.items()},
        site_totals=sorted(
            result.by_site, key=lambda row: invoicing.sort_key(names.get(row.site, row.site))
        ),
        steps=steps,
        warnings=warnings,
        csv_url=url_for("billing.file") + "?" + choice.query(),
        french_csv_url=url_for("billing.french_file") + "?" + choice.query(),
        zip_url=url_for("billing.month_zip") + "?" + choice.query(),
    )


def _file_billing() -> tuple[_Choice, invoicing.MonthBilling]:
    """A download's month and its billing; a bad month is a 400 (a file has no page to say
    it on)."""
    choice = _Choice()
    if choice.errors:
        abort(400)
    with console().sessions() as session:
        return choice, invoicing.month_billing(session, choice.month, sites=choice.sites)


@dataclass(frozen=True)
class _Gap:
    """An issuing site's missing legal identity, in words, with where to give it."""

    site: str
    missing: str
    url: str


@dataclass(frozen=True)
class _CloseWarnings:
    gaps: list[_Gap]
    #: Members who would get an invoice without a postal address, (id, name) by name.
    unaddressed: list[tuple[str, str]]


def _gaps(found: list[invoicing.IssuerGap]) -> list[_Gap]:
    names = site_names()
    return [
        _Gap(
            names.get(gap.site, gap.site),
            site_form.identity_words(list(gap.missing)),
            url_for("sites.edit", site_id=gap.site, _anchor="issuer"),
        )
        for gap in found
    ]


def _close_warnings(month: str, every_site: invoicing.MonthBilling | None) -> _CloseWarnings:
    """What closing `month` would lack, over every site (a close issues every site's
    invoices, whatever sites the page shows); `every_site`: the month's billing at every
    site when the page has it already."""
    with console().sessions() as session:
        billing = every_site or invoicing.month_billing(session, month)
        found = invoicing.close_warnings(session, billing)
    return _CloseWarnings(_gaps(found.gaps), found.unaddressed)


@bp.get("/billing.csv")
@login_required
def file() -> ResponseReturnValue:
    _choice, result = _file_billing()
    return billing_csv(result)


@bp.get("/billing.fr.csv")
@login_required
def french_file() -> ResponseReturnValue:
    """The month's lines for a French spreadsheet, with names (`billing_table`)."""
    choice, result = _file_billing()
    content = french_csv(billing_table(result, site_names(), _))
    return _download(content, f"facturation-{choice.month}.csv", "text/csv; charset=utf-8")


@bp.post("/billing/close")
@roles_required("admin", "department")
def close() -> ResponseReturnValue:
    form = CloseForm()
    month = form.month.data or ""
    back = redirect(url_for("billing.index") + "?" + urlencode({"month": month}))
    if not form.validate():
        for errors in form.errors.values():
            for error in errors:
                flash(str(error), "error")
        return back
    try:
        with console().sessions.begin() as session:
            closed = invoicing.close_month(
                session,
                month,
                now=console().clock(),
                actor=actor(),
                sessions_retention_years=console().sessions_retention_years,
            )
    except invoicing.CannotClose as refused:
        params = {key: _param_words(key, value) for key, value in refused.params.items()}
        flash(_(refused.message, **params), "error")
        with console().sessions() as session:
            names = members.names(session, [row.member_id for row in refused.blocking])
        for blocking in refused.blocking[:20]:
            flash(
                _(
                    "Still open: %(who)s at %(site)s since %(start)s",
                    who=names.get(blocking.member_id or "", blocking.member_id or "?"),
                    site=site_names().get(blocking.site, blocking.site),
                    start=blocking.start.strftime("%d/%m/%Y %H:%M"),
                ),
                "error",
            )
        for gap in _gaps(refused.gaps):
            flash(_("%(site)s lacks: %(what)s.", site=gap.site, what=gap.missing), "error")
        return back
    flash(
        _(
            "%(month)s is closed: %(invoices)d invoices, %(adjustments)d adjustments.",
            month=month_label(month),
            invoices=closed.invoices,
            adjustments=closed.adjustments,
        ),
        "success",
    )
    return back


def _param_words(key: str, value: object) -> object:
    """A refusal's month or day in words, its other values as they are."""
    if isinstance(value, date):
        return long_day(value)
    return month_label(str(value)) if key in ("month", "last", "next") else value


@bp.get("/billing/invoices/<int:invoice_id>.pdf")
@login_required
def invoice(invoice_id: int) -> ResponseReturnValue:
    with console().sessions.begin() as session:
        found = invoicing.invoice(session, invoice_id, sites=allowed_sites())
        if found is None:
            abort(404)
        document = invoice_files.issued_pdf(session, found)
    return _download(document, invoice_files.file_name(found), "application/pdf")


@bp.get("/billing/invoices.zip")
@login_required
def month_zip() -> ResponseReturnValue:
    choice = _Choice()
    if choice.errors:
        abort(400)
    with console().sessions.begin() as session:
        found = invoicing.invoices(session, choice.month, sites=choice.sites)
        if not found:
            abort(404)
        archive = invoice_files.month_zip(session, found)
    return _download(archive, f"factures-{choice.month}.zip", "application/zip")


def _download(body: bytes, name: str, mimetype: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
