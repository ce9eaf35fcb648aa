"""The audit log: admins and the department see every entry, an animator its sites' ones."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from flask import Blueprint, render_template, request, url_for
from flask.typing import ResponseReturnValue

from hub.console import audit_words
from hub.console.access import allowed_sites, login_required, me, site_names
from hub.console.i18n import TIMEZONE
from hub.console.query import page_number
from hub.console.services import console
from hub.people import audit
from hub.reports.queries import report_day

bp = Blueprint("audit", __name__, url_prefix="/audit")


def _day(name: str) -> datetime | None:
    text = request.args.get(name, "").strip()
    if not text:
        return None
    try:
        return datetime.combine(report_day(text), time(), ZoneInfo(TIMEZONE))
    except ValueError:
        return None


@bp.get("/")
@login_required
def index() -> ResponseReturnValue:
    everything = me().account.all_sites
    visible = sites = None if everything else allowed_sites()
    site = request.args.get("site") or None
    if site is not None and site not in allowed_sites():
        # A site the user may not see: nothing, as for a site without entries.
        sites, site = [], None
    until = _day("until")
    with console().sessions() as session:
        found = audit.entries(
            session,
            sites=sites,
            site=site,
            actor=request.args.get("actor", "").strip() or None,
            action=request.args.get("action") or None,
            since=_day("since"),
            until=until + timedelta(days=1) if until is not None else None,
            page=page_number(),
        )
        actions = audit.actions(session, visible)
        lines = audit_words.lines(session, found.entries)

    def page_url(number: int) -> str:
        return url_for("audit.index") + "?" + urlencode({**request.args.to_dict(), "page": number})

    return render_template(
        "console/audit/index.html",
        found=found,
        lines=lines,
        actions=actions,
        sites=site_names(),
        page_url=page_url,
        args=request.args,
    )
