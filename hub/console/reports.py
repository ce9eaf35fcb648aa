"""The reports pages: the department's evaluation for any period and selection of sites and
usage (billing is `hub.console.billing`), each with the API's CSV file for the same
choices (`hub.api.reports`' CSV builders: one file format, wherever it is downloaded).

The figures come from `hub.reports.queries`, given the sites the user may see: an animator's
report is made of its sites' rows only, and never shows the network's totals. A site the
user may not see, in the query string, answers 404.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar, cast
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import format_percent
from flask_babel import lazy_gettext as _l

from hub.api.reports import evaluation_csv, usage_csv
from hub.console import cells
from hub.console.access import login_required, site_names
from hub.console.i18n import TIMEZONE
from hub.console.i18n import gettext as _
from hub.console.periods import (
    YEARS_OFFERED,
    asked_year,
    evaluation_title,
    long_day,
    long_moment,
    month_label,
    period_label,
    scope_name,
    year_period,
)
from hub.console.query import ReportChoice, asked_day
from hub.console.services import console
from hub.people import members
from hub.reports import printable, queries
from hub.reports.spreadsheets import french_csv, workbook
from hub.reports.tables import (
    CATEGORY_LABELS,
    Cell,
    Table,
    evaluation_tables,
    nothing_to_compare,
    top_members_table,
    top_rows,
    usage_table,
)
from hub.reports.yearly import Yearly, no_stay, yearly
from hub.reports.years import years_with_stays
from hub.rules.evaluation import change

bp = Blueprint("reports", __name__, url_prefix="/reports")

T = TypeVar("T")

USAGE_BY = {"member": "member", "site": "site", "month": "month", "category": "category"}
#: Rows per page of the usage table (the CSV files hold every row).
PER_PAGE = 50
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PARIS = ZoneInfo(TIMEZONE)
#: Who publishes the evaluation: the top line of every printed page.
DEPARTMENT = _l("Cantal departmental council · CyberCantal telecentre network")
#: docs/rules.md, "Occupied position": said on the page, the workbook and the printout.
OCCUPIED_NOTE = _l(
    "An occupied position is a full-time equivalent: the hours used at a site over the open "
    "hours of one of its positions in the period (its occupancy rate × its positions). The "
    "estimate counts whole occupied positions (rounded down) × the FNADT rate of the site's "
    "zone: 2,000 € in a ZRR, 1,500 € elsewhere. An estimate, not a grant decision."
)


class _Choice(ReportChoice):
    """The period and sites asked for."""

    def __init__(self) -> None:
        super().__init__()
        today = self.today
        self.first = asked_day("from", date(today.year, 1, 1), self.errors)
        self.last = asked_day("to", today, self.errors)
        year = asked_year(today)
        if year is not None:
            self.first, self.last = year_period(year, today)
        if self.last < self.first:
            self.errors["to"] = _("The end of the period is before its start.")
            self.last = self.first
        by = request.args.get("by", "member")
        self.by = cast(queries.UsageBy, by if by in USAGE_BY else "member")

    def query(self, **changes: str) -> str:
        values: list[tuple[str, str]] = [
            ("from", self.first.isoformat()),
            ("to", self.last.isoformat()),
            ("month", self.month),
            ("by", self.by),
        ]
        values = [(key, changes.get(key, value)) for key, value in values]
        values += [("site", site) for site in self.chosen]
        return urlencode(values)


def _file_choice() -> _Choice:
    """The choices of a file: a bad one is a 400 (a page says why beside the field; a
    download has nowhere to say it)."""
    choice = _Choice()
    if choice.errors:
        abort(400)
    return choice


def _paged(rows: Sequence[T], choice: _Choice, endpoint: str) -> dict[str, Any]:
    """One page of a long table, and what the pagination macro needs."""
    pages = max(1, -(-len(rows) // PER_PAGE))
    page = min(choice.page, pages)

    def page_url(number: int) -> str:
        return url_for(endpoint) + "?" + choice.query() + f"&page={number}"

    start = (page - 1) * PER_PAGE
    return {
        "rows": rows[start : start + PER_PAGE],
        "page": page,
        "pages": pages,
        "page_url": page_url,
    }


def _percent(value: Decimal | None) -> str:
    return "–" if value is None else str(format_percent(value, "#,##0.0 %"))


def _render(template: str, choice: _Choice, **context: object) -> str:
    return render_template(
        template,
        choice=choice,
        sites=site_names(),
        percent=_percent,
        month_label=month_label,
        **context,
    )


@bp.get("/")
@login_required
def evaluation() -> ResponseReturnValue:
    choice = _Choice()
    report, tables = _yearly(choice)
    query = "?" + choice.query()
    years = []
    for year in _years_offered(choice):
        first, last = year_period(year, choice.today)
        years.append((year, choice.query(**{"from": first.isoformat(), "to": last.isoformat()})))
    heat = [value for row in tables["weekday-hour"].rows for value in row[1:]]
    return _render(
        "console/reports/evaluation.html",
        choice,
        report=report,
        result=report.current,
        previous=report.previous,
        previous_label=period_label(report.previous.first_day, report.previous.last_day),
        computed_at=long_moment(report.computed_at),
        tables=tables,
        network=report.network,
        title=_title(choice, report),
        years=years,
        previous_empty=report.previous_empty,
        no_comparison=nothing_to_compare(report, _, long_day),
        nothing_yet=no_stay(report.current.total),
        heat_top=max((value for value in heat if isinstance(value, Decimal)), default=Decimal(0)),
        occupied_note=str(OCCUPIED_NOTE),
        query=query,
        csv_url=url_for("reports.evaluation_file") + query,
        shown=cells.shown,
        raw=cells.raw,
        heat_level=cells.heat_level,
        change=change,
    )


def _years_offered(choice: _Choice) -> list[int]:
    """The years with stays at the chosen sites, and the current one (its stays are to
    come), newest first: a year without any has nothing to show."""
    with console().sessions() as session:
        found = years_with_stays(session, choice.sites)
    offered = {year for year in found if year <= choice.today.year} | {choice.today.year}
    return sorted(offered, reverse=True)[:YEARS_OFFERED]


def _title(choice: _Choice, report: Yearly) -> str:
    """The network's title for the whole network, else the chosen sites by name."""
    scope = None
    if not report.network:
        names = site_names()
        scope = scope_name([names[site] for site in choice.chosen])
    return evaluation_title(choice.first, choice.last, choice.today, scope)


@bp.get("/evaluation.csv")
@login_required
def evaluation_file() -> ResponseReturnValue:
    choice = _file_choice()
    with console().sessions() as session:
        result = queries.evaluation(session, choice.first, choice.last, sites=choice.sites)
    return evaluation_csv(result, choice.first, choice.last)


def _yearly(choice: _Choice) -> tuple[Yearly, dict[str, Table]]:
    with console().sessions() as session:
        report = yearly(session, choice.first, choice.last, console().clock(), sites=choice.sites)
    return report, evaluation_tables(report, site_names(), _, long_day)


def _file_name(choice: _Choice, suffix: str) -> str:
    return f"evaluation-{choice.first}-{choice.last}{suffix}"


def _download(content: bytes, mimetype: str, name: str) -> Response:
    response = Response(content, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@bp.get("/evaluation/<table>.csv")
@login_required
def evaluation_table_file(table: str) -> ResponseReturnValue:
    """One table of the evaluation as a CSV for a French spreadsheet."""
    choice = _file_choice()
    _report, tables = _yearly(choice)
    if table not in tables:
        abort(404)
    return _download(
        french_csv(tables[table], _("Note")),
        "text/csv; charset=utf-8",
        _file_name(choice, f"-{table}.csv"),
    )


@bp.get("/evaluation.xlsx")
@login_required
def evaluation_workbook() -> ResponseReturnValue:
    choice = _file_choice()
    report, tables = _yearly(choice)
    about: list[tuple[str, Cell]] = [
        (_("Report"), _title(choice, report)),
        (_("Publisher"), str(DEPARTMENT)),
        (_("From"), choice.first),
        (_("To"), choice.last),
        (_("Previous period"), _previous_period(report)),
        (_("Figures of"), report.computed_at.astimezone(PARIS)),
        (_("Occupied position"), str(OCCUPIED_NOTE)),
    ]
    content = workbook(
        list(tables.values()),
        about=about,
        about_name=_("About"),
        chart=tables["hours-by-month"].name,
    )
    return _download(content, XLSX, _file_name(choice, ".xlsx"))


def _previous_period(report: Yearly) -> str:
    """Its days, and that there is nothing to compare with when it has no stay."""
    days = f"{report.previous.first_day:%d/%m/%Y} – {report.previous.last_day:%d/%m/%Y}"
    note = nothing_to_compare(report, _, long_day)
    return days if note is None else f"{days}. {note}"


def _printable(choice: _Choice, for_pdf: bool) -> tuple[str, str]:
    report, tables = _yearly(choice)
    title = _title(choice, report)
    html = render_template(
        "console/reports/evaluation_print.html",
        choice=choice,
        report=report,
        tables=tables,
        title=title,
        department=str(DEPARTMENT),
        occupied_note=str(OCCUPIED_NOTE),
        previous_label=period_label(report.previous.first_day, report.previous.last_day),
        previous_empty=report.previous_empty,
        no_comparison=nothing_to_compare(report, _, long_day),
        computed_at=long_moment(report.computed_at),
        long_day=long_day,
        for_pdf=for_pdf,
        query="?" + choice.query(),
        percent=_percent,
        change=change,
        shown=cells.shown,
        raw=cells.raw,
        heat_level=cells.heat_level,
    )
    return html, title


@bp.get("/evaluation/print")
@login_required
def evaluation_print() -> ResponseReturnValue:
    """The evaluation as it is printed: the browser's print, or the PDF below."""
    html, _title = _printable(_Choice(), for_pdf=False)
    return html


@bp.get("/evaluation.pdf")
@login_required
def evaluation_pdf() -> ResponseReturnValue:
    choice = _file_choice()
    html, title = _printable(choice, for_pdf=True)
    return _download(
        printable.pdf(html, title=title), "application/pdf", _file_name(choice, ".pdf")
    )


def _usage(choice: _Choice, by: queries.UsageBy | None = None) -> queries.Usage:
    with console().sessions() as session:
        return queries.usage(
            session, choice.first, choice.last, by or choice.by, sites=choice.chosen
        )


def _usage_names(result: queries.Usage) -> dict[str, str]:
    """The names of what the usage rows are keyed by: members, or sites."""
    if result.by == "site":
        return site_names()
    if result.by != "member":
        return {}
    with console().sessions() as session:
        return members.names(session, [row.key for row in result.rows])


def _top_members(choice: _Choice, result: queries.Usage) -> tuple[queries.Usage, dict[str, str]]:
    """Usage by member (the one asked for, if it is), with the names of the top members."""
    by_member = result if result.by == "member" else _usage(choice, "member")
    with console().sessions() as session:
        names = members.names(session, [row.key for row in top_rows(by_member.rows)])
    return by_member, names


@bp.get("/usage")
@login_required
def usage() -> ResponseReturnValue:
    choice = _Choice()
    result = _usage(choice)
    names = _usage_names(result)
    by_member, top_names = _top_members(choice, result)
    query = "?" + choice.query()
    return _render(
        "console/reports/usage.html",
        choice,
        result=result,
        names=names,
        paged=_paged(result.rows, choice, "reports.usage"),
        total_sessions=sum(row.sessions for row in result.rows),
        top=top_members_table(by_member, top_names, _),
        categories=dict(CATEGORY_LABELS),
        csv_url=url_for("reports.usage_file") + query,
        french_csv_url=url_for("reports.usage_french_file") + query,
        xlsx_url=url_for("reports.usage_workbook") + query,
        shown=cells.shown,
        raw=cells.raw,
        heat_level=cells.heat_level,
    )


@bp.get("/usage.csv")
@login_required
def usage_file() -> ResponseReturnValue:
    choice = _file_choice()
    return usage_csv(_usage(choice), choice.first, choice.last)


def _usage_file_name(choice: _Choice, suffix: str) -> str:
    return f"usage-by-{choice.by}-{choice.first}-{choice.last}{suffix}"


@bp.get("/usage.fr.csv")
@login_required
def usage_french_file() -> ResponseReturnValue:
    """The usage with names, for a French spreadsheet."""
    choice = _file_choice()
    result = _usage(choice)
    content = french_csv(usage_table(result, _usage_names(result), _))
    return _download(content, "text/csv; charset=utf-8", _usage_file_name(choice, ".csv"))


@bp.get("/usage.xlsx")
@login_required
def usage_workbook() -> ResponseReturnValue:
    """The usage with names and the top members, as an Excel workbook."""
    choice = _file_choice()
    result = _usage(choice)
    by_member, top_names = _top_members(choice, result)
    tables = [
        usage_table(result, _usage_names(result), _),
        top_members_table(by_member, top_names, _),
    ]
    return _download(workbook(tables), XLSX, _usage_file_name(choice, ".xlsx"))
