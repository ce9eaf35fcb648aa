"""The members page: find a member, create or edit one, enrol a badge by tapping it.

Enrolment: the newcomer presents their card at the door, which refuses it (`unknown`); the
badge shows up here within seconds (the list polls), one click gives it to the member, the
sites' new access list goes out at once, and the page shows each door applying it.

Members are the network's, not a site's: every staff member sees them. What is a site's —
the unknown badges presented, the doors — is shown for the user's sites only.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from urllib.parse import urlencode

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from hub.console.access import actor, allowed_sites, login_required, me, site_names
from hub.console.door_states import staff_states
from hub.console.forms.members import (
    CATEGORY_LABELS,
    BadgeForm,
    ConfirmForm,
    MemberForm,
)
from hub.console.i18n import gettext as _
from hub.console.query import page_number
from hub.console.services import console
from hub.doors import enrolment
from hub.people import members
from hub.people.members import FIELDS, PASS_FIELDS, MemberView
from hub.people.users import Invalid

bp = Blueprint("members", __name__, url_prefix="/members")

PER_PAGE = 25
#: A door that has not applied a list this long after it was issued is shown as behind.
LATE_AFTER = timedelta(minutes=1)


def _publish(changed: Collection[str]) -> None:
    """After commit: the doors get the new list at once (the hub's publisher)."""
    publish = console().publish_access_lists
    if changed and publish is not None:
        publish(set(changed))


def _may_set_pass() -> bool:
    """The department and admins; an animator may not (docs/console.md, "Who may grant
    access")."""
    return me().role in ("admin", "department")


def _lock_pass(form: MemberForm) -> MemberForm:
    """For an animator, the Pass dates show read-only, saying who sets them."""
    if not _may_set_pass():
        for name in PASS_FIELDS:
            field = getattr(form, name)
            field.render_kw = {**(field.render_kw or {}), "readonly": True}
            field.description = _("Set by the department or an administrator.")
    return form


def _member_or_404(member_id: str) -> MemberView:
    with console().sessions() as session:
        found = members.get(session, member_id)
    if found is None:
        abort(404)
    return found


def _show_error(form: MemberForm | BadgeForm, error: Invalid) -> None:
    field = getattr(form, error.field, None)
    message = _(error.message, **error.params)
    if field is None:
        flash(message, "error")
    else:
        field.errors = [*field.errors, message]


def _recent_taps() -> list[enrolment.UnknownTap]:
    since = console().clock() - timedelta(minutes=enrolment.RECENT_MINUTES)
    with console().sessions() as session:
        return enrolment.unknown_taps(session, allowed_sites(), since=since)


def _taps_signature(taps: list[enrolment.UnknownTap]) -> str:
    return ";".join(f"{t.badge}@{t.site}:{t.at.isoformat()}:{t.taps}" for t in taps)


def _minutes_ago(at: datetime) -> int:
    return max(0, int((console().clock() - at).total_seconds() // 60))


@bp.get("/")
@login_required
def index() -> ResponseReturnValue:
    query = request.args.get("q", "").strip()
    with console().sessions() as session:
        found = members.search(session, query, page=page_number(), per_page=PER_PAGE)
    taps = _recent_taps()

    def page_url(number: int) -> str:
        return url_for("members.index") + "?" + urlencode({"q": query, "page": number})

    return render_template(
        "console/members/index.html",
        found=found,
        query=query,
        page_url=page_url,
        taps=taps,
        signature=_taps_signature(taps),
        member=None,
        confirm_form=ConfirmForm(),
        today=console().clock().date(),
        **_labels(),
    )


def _labels() -> dict[str, object]:
    return {
        "categories": CATEGORY_LABELS,
        "sites": site_names(),
        "minutes_ago": _minutes_ago,
        "recent_minutes": enrolment.RECENT_MINUTES,
    }


@bp.get("/unknown-badges")
@login_required
def unknown_badges() -> ResponseReturnValue:
    """The live list of badges just presented (htmx polls it); 204 when nothing changed, so
    the page does not redraw (nor a screen reader repeat) the same list."""
    taps = _recent_taps()
    signature = _taps_signature(taps)
    if request.args.get("signature") == signature:
        return "", 204
    member = None
    if request.args.get("member"):
        member = _member_or_404(request.args["member"])
    return render_template(
        "console/members/_unknown.html",
        taps=taps,
        signature=signature,
        member=member,
        confirm_form=ConfirmForm(),
        **_labels(),
    )


@bp.get("/doors")
@login_required
def doors() -> ResponseReturnValue:
    """Which access list each door of the user's sites applies (polled after a change)."""
    with console().sessions() as session:
        found = enrolment.door_access(session, allowed_sites())
    late = console().clock() - LATE_AFTER
    return render_template(
        "console/members/_doors.html", doors=staff_states(found, site_names(), late)
    )


@bp.route("/new", methods=["GET", "POST"])
@login_required
def create() -> ResponseReturnValue:
    """A new member; with `?badge=` (a badge just presented, from its page), the member is
    made with that badge in one go and the doors get the new list at once."""
    form = MemberForm()
    badge = request.args.get("badge", "").strip().upper() or None
    if form.validate_on_submit():
        values = {name: getattr(form, name).data or "" for name in FIELDS}
        try:
            with console().sessions.begin() as session:
                member, changed = members.save_member(
                    session, values, actor=actor(), may_set_pass=_may_set_pass()
                )
                if badge is not None:
                    changed = enrolment.assign_badge(
                        session, uid=badge, member_id=member.id, actor=actor()
                    )
        except Invalid as error:
            _show_error(form, error)
        else:
            _publish(changed)
            if badge is None:
                message = _("%(name)s is a member. Now give them a badge.", name=member.name)
            else:
                message = _(
                    "%(name)s is a member, with badge %(badge)s: the doors below apply the new "
                    "list within seconds.",
                    name=member.name,
                    badge=badge,
                )
            flash(message, "success")
            return redirect(url_for("members.edit", member_id=member.id, _anchor="badges"))
    return render_template(
        "console/members/new.html", form=_lock_pass(form), badge=badge, **_labels()
    )


@bp.route("/<member_id>", methods=["GET", "POST"])
@login_required
def edit(member_id: str) -> ResponseReturnValue:
    member = _member_or_404(member_id)
    form = MemberForm(data=_data(member) if request.method == "GET" else None)
    if form.validate_on_submit():
        values = {name: getattr(form, name).data or "" for name in FIELDS}
        try:
            with console().sessions.begin() as session:
                member, changed = members.save_member(
                    session,
                    values,
                    actor=actor(),
                    member_id=member_id,
                    may_set_pass=_may_set_pass(),
                )
        except Invalid as error:
            _show_error(form, error)
        else:
            _publish(changed)
            flash(_("Changes to %(name)s saved.", name=member.name), "success")
            return redirect(url_for("members.edit", member_id=member_id))
    return _member_page(member, form, BadgeForm(formdata=None))


def _member_page(member: MemberView, form: MemberForm, badge_form: BadgeForm) -> str:
    taps = _recent_taps()
    form.member_id.render_kw = {**(form.member_id.render_kw or {}), "readonly": True}
    _lock_pass(form)
    return render_template(
        "console/members/edit.html",
        member=member,
        form=form,
        badge_form=badge_form,
        confirm_form=ConfirmForm(),
        taps=taps,
        signature=_taps_signature(taps),
        today=console().clock().date(),
        **_labels(),
    )


@bp.post("/<member_id>/badges")
@login_required
def assign(member_id: str) -> ResponseReturnValue:
    """Give a badge to the member: one click on a badge just presented, or its number typed."""
    member = _member_or_404(member_id)
    form = BadgeForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        with console().sessions.begin() as session:
            changed = enrolment.assign_badge(
                session, uid=form.badge.data or "", member_id=member_id, actor=actor()
            )
    except Invalid as error:
        _show_error(form, error)
        return _member_page(member, MemberForm(formdata=None, data=_data(member)), form)
    _publish(changed)
    flash(
        _(
            "Badge %(badge)s now opens the doors for %(name)s: the doors below apply the new "
            "list within seconds.",
            badge=(form.badge.data or "").upper(),
            name=member.name,
        ),
        "success",
    )
    return redirect(url_for("members.edit", member_id=member_id, _anchor="badges"))


def _data(member: MemberView) -> dict[str, str]:
    return {
        "member_id": member.id,
        "last_name": member.last_name,
        "first_name": member.first_name,
        "email": member.email or "",
        "category": member.category,
        "pass_since": member.pass_since.isoformat() if member.pass_since else "",
        "pass_until": member.pass_until.isoformat() if member.pass_until else "",
        "address": member.address or "",
    }


@bp.post("/<member_id>/badges/<uid>/revoke")
@login_required
def revoke(member_id: str, uid: str) -> ResponseReturnValue:
    member = _member_or_404(member_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if uid not in {badge.uid for badge in member.badges}:
        abort(404)
    with console().sessions.begin() as session:
        changed = enrolment.revoke_badge(session, uid=uid, actor=actor())
    _publish(changed)
    flash(_("Badge %(badge)s no longer opens any door.", badge=uid), "success")
    return redirect(url_for("members.edit", member_id=member_id, _anchor="badges"))


@bp.post("/<member_id>/deactivate")
@login_required
def deactivate(member_id: str) -> ResponseReturnValue:
    member = _member_or_404(member_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    with console().sessions.begin() as session:
        changed = members.deactivate_member(session, member_id, actor=actor())
    _publish(changed)
    flash(
        _("%(name)s is deactivated: their badges no longer open any door.", name=member.name),
        "success",
    )
    return redirect(url_for("members.edit", member_id=member_id))


@bp.get("/enrol/<uid>")
@login_required
def enrol(uid: str) -> ResponseReturnValue:
    """Choose whom a badge just presented is for: search, then one click."""
    query = request.args.get("q", "").strip()
    with console().sessions() as session:
        found = members.search(session, query, page=page_number(), per_page=PER_PAGE)
    tap = next((t for t in _recent_taps() if t.badge == uid), None)

    def page_url(number: int) -> str:
        return url_for("members.enrol", uid=uid) + "?" + urlencode({"q": query, "page": number})

    return render_template(
        "console/members/enrol.html",
        uid=uid,
        tap=tap,
        found=found,
        query=query,
        page_url=page_url,
        confirm_form=ConfirmForm(),
        **_labels(),
    )
