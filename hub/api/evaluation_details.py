"""`GET /evaluation/details`: what the console's evaluation adds to the figures, for programs
and for checking the files against: the previous period's figures (and `previous_empty`:
it has no stay at all, so the files compare nothing with it), the FNADT subsidy estimate and
the charts' series (`hub.reports.yearly`). As `/evaluation`, an animator token
gets its own site only, without the network's totals. `?format=xlsx` gives the console's
workbook with English headers (the console's own is in the reader's language).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from hub.api import params
from hub.api.auth import access, authenticate
from hub.api.output import XLSX, instant, number
from hub.api.reports import evaluation_json
from hub.api.services import services
from hub.people.names import site_labels
from hub.reports.spreadsheets import workbook
from hub.reports.tables import evaluation_tables
from hub.reports.yearly import Yearly, yearly

bp = Blueprint("evaluation_details", __name__)
bp.before_request(authenticate)


def _series(report: Yearly) -> dict[str, Any]:
    patterns = report.patterns
    return {
        "months": patterns.months,
        "hours_by_month": {
            site: [number(hours) for hours in values]
            for site, values in patterns.hours_by_month.items()
        },
        "month_totals": [number(hours) for hours in patterns.month_totals],
        "hours_of_day": patterns.hours,
        "weekday_hour": [[number(share) for share in row] for row in patterns.heat],
        "average_day": {
            site: [number(share) for share in values]
            for site, values in patterns.day_profile.items()
        },
        "pass_members_by_month": patterns.pass_members,
    }


def details_json(report: Yearly) -> dict[str, Any]:
    subsidy = report.subsidy
    current, previous = report.current, report.previous
    return {
        "from": instant(current.first_day),
        "to": instant(current.last_day),
        "previous": evaluation_json(previous, previous.first_day, previous.last_day),
        "previous_empty": report.previous_empty,
        "subsidy": {
            "lines": [
                {
                    "site": line.site,
                    "zrr": line.zrr,
                    "positions": line.positions,
                    "occupied_positions": number(line.occupied),
                    "counted_positions": line.counted,
                    "rate_eur": number(line.rate_eur),
                    "amount_eur": number(line.amount_eur),
                }
                for line in subsidy.lines
            ],
            "zrr_eur": number(subsidy.zrr_eur),
            "non_zrr_eur": number(subsidy.non_zrr_eur),
            "total_eur": number(subsidy.total_eur),
        },
        "series": _series(report),
    }


@bp.get("/evaluation/details")
def details() -> Response | dict[str, Any]:
    params.only("from", "to")
    first, last = params.period()
    wants_file = params.choice("format", ("json", "xlsx"), "json") == "xlsx"
    own = access().site
    with services().sessions() as session:
        report = yearly(
            session, first, last, services().clock(), sites=None if own is None else [own]
        )
        names = site_labels(session) if wants_file else {}
    if wants_file:
        tables = evaluation_tables(report, names, lambda text: text)
        content = workbook(list(tables.values()), chart=tables["hours-by-month"].name)
        response = Response(content, mimetype=XLSX)
        response.headers["Content-Disposition"] = (
            f'attachment; filename="evaluation-details-{first}-{last}.xlsx"'
        )
        return response
    return details_json(report)
