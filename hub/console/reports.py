"""The reports pages: the department's evaluation for any period and selection of sites,
usage, and billing with the members' names, each with the API's CSV file for the same
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

from flask import Blueprint, abort, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import format_date, format_percent

from hub.api.reports import billing_csv, evaluation_csv, usage_csv
from hub.console.access import allowed_sites, login_required, me, require_site, site_names
from hub.console.i18n import gettext as _
from hub.console.query import asked_day, page_number
from hub.console.services import console
from hub.people import members
from hub.reports import queries

bp = Blueprint("reports", __name__, url_prefix="/reports")

T = TypeVar("T")

USAGE_BY = {"member": "member", "site": "site", "month": "month"}
#: Rows per page of the usage and billing tables (the CSV files hold every row).
PER_PAGE = 50


class _Choice:
    """The period and sites asked for; `errors` by field, in words."""

    def __init__(self) -> None:
        today = console().clock().date()
        self.errors: dict[str, str] = {}
        self.first = asked_day("from", date(today.year, 1, 1), self.errors)
        self.last = asked_day("to", today, self.errors)
        if self.last < self.first:
            self.errors["to"] = _("The end of the period is before its start.")
            self.last = self.first
        asked = [site for site in request.args.getlist("site") if site]
        self.chosen = [require_site(site) for site in asked] or allowed_sites()
        month = request.args.get("month", "").strip()
        self.month = month or today.strftime("%Y-%m")
        try:
            queries.report_day(f"{self.month}-01")
            if len(self.month) != 7:
                raise ValueError(self.month)
        except ValueError:
            self.errors["month"] = _("This is not a month.")
            self.month = today.strftime("%Y-%m")
        by = request.args.get("by", "member")
        self.by = cast(queries.UsageBy, by if by in USAGE_BY else "member")
        self.page = page_number()

    @property
    def sites(self) -> list[str] | None:
        """What to read: None (the whole network) only for staff who chose every site."""
        if me().account.all_sites and set(self.chosen) == set(allowed_sites()):
            return None
        return self.chosen

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


def _month_label(month: str) -> str:
    first, _last = queries.month_bounds(month)
    return str(format_date(first, "LLLL yyyy"))


def _render(template: str, choice: _Choice, **context: object) -> str:
    return render_template(
        template,
        choice=choice,
        sites=site_names(),
        percent=_percent,
        month_label=_month_label,
        **context,
    )


@bp.get("/")
@login_required
def evaluation() -> ResponseReturnValue:
    choice = _Choice()
    with console().sessions() as session:
        result = queries.evaluation(session, choice.first, choice.last, sites=choice.sites)
    return _render(
        "console/reports/evaluation.html",
        choice,
        result=result,
        network=choice.sites is None,
        csv_url=url_for("reports.evaluation_file") + "?" + choice.query(),
    )


@bp.get("/evaluation.csv")
@login_required
def evaluation_file() -> ResponseReturnValue:
    choice = _Choice()
    if choice.errors:
        abort(400)
    with console().sessions() as session:
        result = queries.evaluation(session, choice.first, choice.last, sites=choice.sites)
    return evaluation_csv(result, choice.first, choice.last)


def _usage(choice: _Choice) -> queries.Usage:
    with console().sessions() as session:
        return queries.usage(session, choice.first, choice.last, choice.by, sites=choice.chosen)


@bp.get("/usage")
@login_required
def usage() -> ResponseReturnValue:
    choice = _Choice()
    result = _usage(choice)
    with console().sessions() as session:
        names = (
            members.names(session, [row.key for row in result.rows])
            if choice.by == "member"
            else {}
        )
    return _render(
        "console/reports/usage.html",
        choice,
        result=result,
        names=names,
        paged=_paged(result.rows, choice, "reports.usage"),
        total_sessions=sum(row.sessions for row in result.rows),
        csv_url=url_for("reports.usage_file") + "?" + choice.query(),
    )


@bp.get("/usage.csv")
@login_required
def usage_file() -> ResponseReturnValue:
    choice = _Choice()
    if choice.errors:
        abort(400)
    return usage_csv(_usage(choice), choice.first, choice.last)


def _billing(choice: _Choice) -> queries.Billing:
    with console().sessions() as session:
        return queries.billing(session, choice.month, sites=choice.chosen)


@bp.get("/billing")
@login_required
def billing() -> ResponseReturnValue:
    choice = _Choice()
    result = _billing(choice)
    with console().sessions() as session:
        names = members.names(session, [line.member_id for line in result.lines])
    lines = sorted(
        result.lines, key=lambda line: (names.get(line.member_id, line.member_id), line.site)
    )
    return _render(
        "console/reports/billing.html",
        choice,
        result=result,
        paged=_paged(lines, choice, "reports.billing"),
        names=names,
        csv_url=url_for("reports.billing_file") + "?" + choice.query(),
    )


@bp.get("/billing.csv")
@login_required
def billing_file() -> ResponseReturnValue:
    choice = _Choice()
    if choice.errors:
        abort(400)
    return billing_csv(_billing(choice))
