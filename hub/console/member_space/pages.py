"""The member's own pages: my page, my invoices' files, a lost badge stopped, my data.

Every view reads the member from their own session (`member_id()`), never from the URL: an
invoice or a badge named in a URL that is not theirs is a 404, as if it did not exist.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import format_date, format_datetime
from flask_babel import gettext as _

from hub.alerts.lost_badges import report_lost
from hub.config import HubConfig
from hub.console.door_states import member_states
from hub.console.forms.members import CATEGORY_LABELS
from hub.console.i18n import TIMEZONE
from hub.console.member_space.access import member_id, member_required
from hub.console.member_space.forms import ConfirmForm
from hub.console.services import console
from hub.people import member_access
from hub.people.members import BadgeView
from hub.people.members import get as get_member
from hub.people.names import place_names, site_labels
from hub.presence.retention import export_member
from hub.reports import invoice_files, invoicing
from hub.reports.my_page import doors_after, invoice_of, my_page

bp = Blueprint("member_space", __name__, url_prefix="/espace-membre")


@bp.context_processor
def _words() -> dict[str, object]:
    return {"month_label": month_label, "full_day": full_day, "iso_day": iso_day}


@bp.app_template_filter("clock_short")
def clock_short(moment: datetime) -> str:
    """`09:05`."""
    return str(format_datetime(moment, "HH:mm"))


def month_label(month: str) -> str:
    """`décembre 2026`."""
    return str(format_date(date.fromisoformat(month + "-01"), "MMMM y"))


def full_day(day: date | datetime) -> str:
    """`14 mars 2027`."""
    if isinstance(day, datetime):
        return str(format_datetime(day, "d MMMM y"))
    return str(format_date(day, "d MMMM y"))


def iso_day(text: str | None) -> str:
    """A day or a moment as the export writes it (ISO), as a person reads it."""
    if not text:
        return "–"
    return full_day(datetime.fromisoformat(text) if "T" in text else date.fromisoformat(text))


def _config() -> HubConfig:
    found: HubConfig = current_app.config["HUB_CONFIG"]
    return found


def _now() -> datetime:
    return console().clock()


@bp.get("/moi")
@member_required
def home() -> ResponseReturnValue:
    now = _now()
    with console().sessions() as session:
        page = my_page(
            session,
            member_id(),
            now=now,
            today=now.astimezone(ZoneInfo(TIMEZONE)).date(),
            max_session_h=console().max_session_h,
        )
    if page is None:
        abort(404)
    return render_template(
        "member_space/home.html",
        page=page,
        this_month=now.astimezone(ZoneInfo(TIMEZONE)).strftime("%Y-%m"),
        form=ConfirmForm(),
    )


@bp.get("/factures/<int:invoice_id>.pdf")
@member_required
def invoice(invoice_id: int) -> ResponseReturnValue:
    with console().sessions.begin() as session:
        found = invoicing.invoice(session, invoice_id)
        if found is None or not invoice_of(session, member_id(), invoice_id):
            abort(404)
        document = invoice_files.issued_pdf(session, found)
    response = Response(document, mimetype="application/pdf")
    name = invoice_files.file_name(found)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _own_badge(uid: str) -> BadgeView:
    """The member's badge `uid`; 404 if it is not theirs."""
    with console().sessions() as session:
        member = get_member(session, member_id())
    found = next((badge for badge in member.badges if badge.uid == uid), None) if member else None
    if found is None:
        abort(404)
    return found


@bp.get("/badges/<uid>/perdu")
@member_required
def lost(uid: str) -> ResponseReturnValue:
    """Are you sure? One more tap, so that a finger slipping on a phone stops nothing."""
    _own_badge(uid)
    return render_template("member_space/lost.html", uid=uid, form=ConfirmForm())


def _publish(changed: Collection[str]) -> None:
    publish = console().publish_access_lists
    if changed and publish is not None:
        publish(set(changed))


@bp.post("/badges/<uid>/perdu")
@member_required
def report(uid: str) -> ResponseReturnValue:
    _own_badge(uid)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    with console().sessions.begin() as session:
        changed = report_lost(
            session,
            member_id(),
            uid,
            department_email=_config().alerts.department_email,
            now=_now(),
        )
    if changed:
        _publish(changed)
    flash(
        _("Your badge is stopped: the doors refuse it as soon as they have its new list."),
        "success",
    )
    return redirect(url_for("member_space.badge", uid=uid))


def _doors(badge: BadgeView) -> dict[str, object]:
    with console().sessions() as session:
        found = [] if badge.active else doors_after(session, badge.updated_at)
        names = site_labels(session, {door.site for door in found})
        places = place_names(session, {door.site for door in found})
    return {"doors": member_states(found, names, places), "badge": badge}


@bp.get("/badges/<uid>")
@member_required
def badge(uid: str) -> ResponseReturnValue:
    """A badge and, once stopped, each door applying its new list (polled, as staff see it)."""
    return render_template("member_space/badge.html", **_doors(_own_badge(uid)))


@bp.get("/badges/<uid>/portes")
@member_required
def badge_doors(uid: str) -> ResponseReturnValue:
    return render_template("member_space/_doors.html", **_doors(_own_badge(uid)))


def _export() -> dict[str, object]:
    with console().sessions.begin() as session:
        return export_member(session, member_id(), actor=member_access.ACTOR)


@bp.get("/mes-donnees")
@member_required
def my_data() -> ResponseReturnValue:
    data = _export()
    with console().sessions() as session:
        names = site_labels(session)
    return render_template(
        "member_space/data.html",
        data=data,
        site_names=names,
        categories=CATEGORY_LABELS,
        form=ConfirmForm(),
        department=_config().alerts.department_email is not None,
    )


@bp.get("/mes-donnees.json")
@member_required
def my_data_json() -> ResponseReturnValue:
    body = json.dumps(_export(), ensure_ascii=False, indent=2)
    response = Response(body, mimetype="application/json")
    response.headers["Content-Disposition"] = 'attachment; filename="mes-donnees.json"'
    return response


@bp.post("/mes-donnees/effacement")
@member_required
def ask_erasure() -> ResponseReturnValue:
    if not ConfirmForm().validate_on_submit():
        abort(400)
    with console().sessions.begin() as session:
        member_access.request_erasure(
            session,
            member_id(),
            department_email=_config().alerts.department_email,
            now=_now(),
        )
    flash(
        _(
            "Your request is sent to the department, which answers within a month. Invoices "
            "of closed months are kept as accounting records."
        ),
        "success",
    )
    return redirect(url_for("member_space.my_data"))
