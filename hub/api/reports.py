"""The report calls: occupancy, sessions, usage, billing, evaluation, devices.

Each one checks its parameters, asks `hub.reports.queries` for the sites the token may see, and
answers JSON, or CSV with `?format=csv`.

The evaluation is the department's: an animator token gets its own site's figures only
(at the top level and as the one entry of `by_site`, without the ZRR split), never the
network's totals.
"""

from __future__ import annotations

from datetime import date
from typing import Any, cast

from flask import Blueprint, Response

from hub.api import params
from hub.api.auth import access, authenticate, sites_for
from hub.api.output import csv_response, instant, number, two_decimals
from hub.api.services import services
from hub.reports import invoicing, queries
from hub.rules.model import Figures

bp = Blueprint("reports", __name__)
bp.before_request(authenticate)

#: Long enough for a month of a busy network on one page, short enough to build in memory.
DEFAULT_LIMIT = 1000
MAX_LIMIT = 100_000

_USAGE_KEY = {"member": "member_id", "site": "site", "month": "month", "category": "category"}


@bp.get("/occupancy")
def occupancy() -> Response | dict[str, Any]:
    params.only("site")
    sites = sites_for(params.site())
    csv = params.wants_csv()
    with services().sessions() as session:
        rows = queries.occupancy(
            session, services().clock(), sites=sites, max_session_h=services().max_session_h
        )
    if csv:
        return csv_response(
            "occupancy.csv",
            ("site", "present", "positions"),
            ((row.site, row.present, row.positions) for row in rows),
        )
    return {
        "sites": [
            {
                "site": row.site,
                "present": row.present,
                "positions": row.positions,
                "members": [
                    {"member_id": who.member_id, "since": instant(who.since)} for who in row.members
                ],
            }
            for row in rows
        ]
    }


@bp.get("/sessions")
def sessions() -> Response | dict[str, Any]:
    """Paged (`limit`, `offset`); `next` is the offset of the next page, null on the last.
    A CSV is a file someone hands on: it holds up to MAX_LIMIT rows unless asked for fewer,
    and carries the paging in `X-Total-Count` and `X-Next-Offset` headers."""
    params.only("from", "to", "site", "member", "limit", "offset")
    first, last = params.period()
    member = params.member()
    csv = params.wants_csv()
    limit = params.whole("limit", MAX_LIMIT if csv else DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = params.whole("offset", 0, 0, 10**12)
    sites = sites_for(params.site())
    with services().sessions() as session:
        page = queries.sessions(
            session, first, last, sites=sites, member=member, limit=limit, offset=offset
        )
    if csv:
        return sessions_csv(page, first, last)
    return {
        "sessions": [
            {
                "member_id": row.member_id,
                "site": row.site,
                "start": instant(row.start),
                "end": instant(row.end),
                "hours": number(row.hours),
                "auto_closed": row.auto_closed,
                "end_reason": row.end_reason,
                "manual": row.manual,
                "id": row.id,
            }
            for row in page.rows
        ],
        "total": page.total,
        "limit": limit,
        "offset": offset,
        "next": page.next_offset,
    }


@bp.get("/usage")
def usage() -> Response | dict[str, Any]:
    params.only("from", "to", "site", "by")
    first, last = params.period()
    by = cast(queries.UsageBy, params.choice("by", queries.USAGE_BY, "member"))
    csv = params.wants_csv()
    sites = sites_for(params.site())
    with services().sessions() as session:
        result = queries.usage(session, first, last, by, sites=sites)
    key = _USAGE_KEY[by]
    if csv:
        return usage_csv(result, first, last)
    return {
        "by": by,
        "rows": [
            {key: row.key, "sessions": row.sessions, "hours": number(row.hours)}
            for row in result.rows
        ],
        "total_hours": number(result.total_hours),
    }


@bp.get("/billing")
def billing() -> Response | dict[str, Any]:
    """A closed month from its stored lines (`"closed": true`: records, whatever happened to
    the sessions or the members since), an open month worked out from today's sessions."""
    params.only("month", "site")
    month = params.month()
    csv = params.wants_csv()
    sites = sites_for(params.site())
    with services().sessions() as session:
        result = invoicing.month_billing(session, month, sites=sites)
    if csv:
        return billing_csv(result)
    return billing_json(result)


def billing_json(result: invoicing.MonthBilling) -> dict[str, Any]:
    return {
        "month": result.month,
        "closed": result.closed,
        "closed_at": instant(result.closed_at),
        "lines": [
            {
                "member_id": line.member_id,
                "member_name": line.member_name,
                "site": line.site,
                "month": line.month,
                "corrects": line.corrects,
                "hours": number(line.hours),
                "free_hours": number(line.free_hours),
                "billed_hours": number(line.billed_hours),
                "rate": line.rate,
                "amount_eur": number(line.amount_eur),
                "invoice": line.invoice,
            }
            for line in result.lines
        ],
        "members": [
            {
                "member_id": row.member_id,
                "member_name": row.member_name,
                "total_eur": number(row.total_eur),
            }
            for row in result.members
        ],
        "total_eur": number(result.total_eur),
    }


def _figures(figures: Figures) -> dict[str, Any]:
    users = figures.users_by_category
    return {
        "sites": figures.sites,
        "positions": {
            "total": figures.positions.total,
            "office": figures.positions.office,
            "open_space": figures.positions.open_space,
        },
        "users": figures.users,
        "users_by_category": {
            "independent": users.independent,
            "employee": users.employee,
            "mobile": users.mobile,
            "other": users.other,
            "unknown": users.unknown,
        },
        "hours": number(figures.hours),
        "available_hours": number(figures.available_hours),
        "occupancy_rate": number(figures.occupancy_rate),
        "pass_members": figures.pass_members,
        "cost_per_position": number(figures.cost_per_position),
    }


_EVALUATION_COLUMNS = (
    "scope",
    "sites",
    "positions",
    "office",
    "open_space",
    "users",
    "independent",
    "employee",
    "mobile",
    "other",
    "unknown",
    "hours",
    "available_hours",
    "occupancy_rate",
    "pass_members",
    "cost_per_position",
)


def _evaluation_row(scope: str, figures: Figures) -> tuple[object, ...]:
    users = figures.users_by_category
    return (
        scope,
        figures.sites,
        figures.positions.total,
        figures.positions.office,
        figures.positions.open_space,
        figures.users,
        users.independent,
        users.employee,
        users.mobile,
        users.other,
        users.unknown,
        two_decimals(figures.hours),
        two_decimals(figures.available_hours),
        figures.occupancy_rate,
        figures.pass_members,
        two_decimals(figures.cost_per_position),
    )


@bp.get("/evaluation")
def evaluation() -> Response | dict[str, Any]:
    """CSV: one row per scope (`total`, each site, `zrr`, `non_zrr`); the occupancy rate
    keeps its 4 decimals, as 2 would round most sites to 0.3."""
    params.only("from", "to")
    first, last = params.period()
    csv = params.wants_csv()
    with services().sessions() as session:
        result = queries.evaluation(session, first, last, site=access().site)
    if csv:
        return evaluation_csv(result, first, last)
    return evaluation_json(result, first, last)


def evaluation_json(result: queries.EvaluationReport, first: date, last: date) -> dict[str, Any]:
    """The evaluation as the API answers it; `telecentre-hub report evaluation` prints the same."""
    body: dict[str, Any] = {"from": instant(first), "to": instant(last)}
    body |= _figures(result.total)
    body["by_site"] = [
        {"site": site, **_figures(figures)} for site, figures in result.by_site.items()
    ]
    if result.zrr is not None and result.non_zrr is not None:
        body["zrr"] = _figures(result.zrr)
        body["non_zrr"] = _figures(result.non_zrr)
    return body


@bp.get("/devices")
def devices() -> Response | dict[str, Any]:
    params.only("site")
    sites = sites_for(params.site())
    csv = params.wants_csv()
    with services().sessions() as session:
        rows = queries.devices(session, sites=sites)
    columns = (
        "device", "site", "state", "last_seen", "queue", "clock_synced", "version",
        "access_version", "latest_access_version", "health",
    )  # fmt: skip
    if csv:
        return csv_response(
            "devices.csv",
            columns,
            (
                (
                    d.device,
                    d.site,
                    d.state,
                    d.last_seen,
                    d.queue,
                    d.clock_synced,
                    d.version,
                    d.access_version,
                    d.latest_access_version,
                    d.health,
                )
                for d in rows
            ),
        )
    return {
        "devices": [
            {
                "device": d.device,
                "site": d.site,
                "state": d.state,
                "last_seen": instant(d.last_seen),
                "queue": d.queue,
                "clock_synced": d.clock_synced,
                "version": d.version,
                "access_version": d.access_version,
                "latest_access_version": d.latest_access_version,
                "health": d.health,
            }
            for d in rows
        ]
    }


# --- CSV files: the API's, and the console's downloads, which are the same files ------------


def sessions_csv(page: queries.SessionPage, first: date, last: date) -> Response:
    """`manual`: made or corrected by a person (`hub.presence.corrections`)."""
    paging = {"X-Total-Count": str(page.total)}
    if page.next_offset is not None:
        paging["X-Next-Offset"] = str(page.next_offset)
    return csv_response(
        f"sessions-{first}-{last}.csv",
        ("member_id", "site", "start", "end", "hours", "auto_closed", "end_reason", "manual"),
        (
            (
                row.member_id,
                row.site,
                row.start,
                row.end,
                two_decimals(row.hours),
                row.auto_closed,
                row.end_reason,
                row.manual,
            )
            for row in page.rows
        ),
        paging,
    )


def usage_csv(result: queries.Usage, first: date, last: date) -> Response:
    return csv_response(
        f"usage-by-{result.by}-{first}-{last}.csv",
        (_USAGE_KEY[result.by], "sessions", "hours"),
        ((row.key, row.sessions, two_decimals(row.hours)) for row in result.rows),
    )


def billing_csv(result: invoicing.MonthBilling) -> Response:
    """`month`: the month the figures are about (an adjustment's is the month it corrects,
    also in `corrects`); `invoice`: the invoice's number, in a closed month."""
    columns = (
        "member_id", "member_name", "site", "month", "corrects", "hours", "free_hours",
        "billed_hours", "rate", "amount_eur", "invoice",
    )  # fmt: skip
    return csv_response(
        f"billing-{result.month}.csv",
        columns,
        (
            (
                line.member_id,
                line.member_name,
                line.site,
                line.month,
                line.corrects,
                two_decimals(line.hours),
                two_decimals(line.free_hours),
                two_decimals(line.billed_hours),
                line.rate,
                two_decimals(line.amount_eur),
                line.invoice,
            )
            for line in result.lines
        ),
    )


def evaluation_csv(result: queries.EvaluationReport, first: date, last: date) -> Response:
    scopes = {"total": result.total, **result.by_site}
    if result.zrr is not None and result.non_zrr is not None:
        scopes |= {"zrr": result.zrr, "non_zrr": result.non_zrr}
    return csv_response(
        f"evaluation-{first}-{last}.csv",
        _EVALUATION_COLUMNS,
        (_evaluation_row(scope, figures) for scope, figures in scopes.items()),
    )
