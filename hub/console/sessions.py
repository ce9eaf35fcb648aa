"""The sessions page: who stayed where and when, filtered, page by page, as CSV; and the
corrections a person makes — a manual check-in (forgotten badge), a check-out (forgotten at
the door), a correction (a wrong auto-close) — each with its reason, through
`hub.presence.corrections`, marked manual everywhere and never overwritten by a later recompute.

An animator sees and corrects its sites' sessions only: another site's id, in the filter, a
form or a session's URL, answers 404.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial
from typing import Protocol
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session
from wtforms import Field

from hub.api.reports import MAX_LIMIT, sessions_csv
from hub.console.access import actor, allowed_sites, login_required, require_site, site_names
from hub.console.forms.sessions import CheckInForm, CheckOutForm, CorrectForm
from hub.console.i18n import gettext as _
from hub.console.i18n import when
from hub.console.query import asked_day, page_number
from hub.console.services import console
from hub.people import members
from hub.people.sites import load_sites
from hub.people.users import Invalid
from hub.presence.corrections import (
    CorrectionError,
    SessionChanged,
    correct_session,
    manual_check_in,
    manual_check_out,
    version_of,
)
from hub.reports import queries

bp = Blueprint("sessions", __name__, url_prefix="/sessions")

#: A page a phone scrolls through in a few flicks, a screen or two at 1280 px.
PER_PAGE = 20
#: The period shown when none is asked for: the last week.
DEFAULT_DAYS = 7
_LOCAL_FORMAT = "%Y-%m-%dT%H:%M"


class _Filters:
    """The list's filters, read from the query string; `errors` by field, in words."""

    def __init__(self) -> None:
        args = request.args
        today = console().clock().date()
        self.errors: dict[str, str] = {}
        self.first = asked_day("from", today - timedelta(days=DEFAULT_DAYS - 1), self.errors)
        self.last = asked_day("to", today, self.errors)
        if self.last < self.first:
            self.errors["to"] = _("The end of the period is before its start.")
            self.last = self.first
        self.site = args.get("site") or None
        if self.site is not None:
            require_site(self.site)
        self.member_text = args.get("member", "").strip()
        self.member: members.MemberView | None = None
        if self.member_text:
            try:
                with console().sessions() as session:
                    self.member = members.match_one(session, self.member_text)
            except Invalid as error:
                self.errors["member"] = _(error.message, **error.params)
        self.manual_only = args.get("manual") == "1"
        self.page = page_number()

    @property
    def sites(self) -> list[str]:
        return [self.site] if self.site is not None else allowed_sites()

    def query(self, **changes: object) -> str:
        values: dict[str, object] = {
            "from": self.first.isoformat(),
            "to": self.last.isoformat(),
            "site": self.site or "",
            "member": self.member_text,
        }
        if self.manual_only:
            values["manual"] = "1"
        values.update(changes)
        return urlencode({key: value for key, value in values.items() if value not in ("", None)})

    def fetch(self, *, limit: int, offset: int) -> queries.SessionPage:
        if "member" in self.errors:
            return queries.SessionPage([], 0, None)
        with console().sessions() as session:
            return queries.sessions(
                session,
                self.first,
                self.last,
                sites=self.sites,
                member=self.member.id if self.member else None,
                manual_only=self.manual_only,
                newest_first=True,
                limit=limit,
                offset=offset,
            )


@bp.get("/")
@login_required
def index() -> ResponseReturnValue:
    filters = _Filters()
    page = filters.fetch(limit=PER_PAGE, offset=(filters.page - 1) * PER_PAGE)
    with console().sessions() as session:
        names = members.names(session, [row.member_id for row in page.rows])
    pages = max(1, -(-page.total // PER_PAGE))

    def page_url(number: int) -> str:
        return url_for("sessions.index") + "?" + filters.query(page=number)

    return render_template(
        "console/sessions/index.html",
        filters=filters,
        found=page,
        names=names,
        sites=site_names(),
        page=filters.page,
        pages=pages,
        page_url=page_url,
        csv_url=url_for("sessions.export") + "?" + filters.query(),
    )


@bp.get("/export.csv")
@login_required
def export() -> ResponseReturnValue:
    """The API's sessions CSV for the same filters (`manual` column included)."""
    filters = _Filters()
    if filters.errors:
        abort(400)
    page = filters.fetch(limit=MAX_LIMIT, offset=0)
    return sessions_csv(page, filters.first, filters.last)


def _zone(site_id: str) -> ZoneInfo:
    with console().sessions() as session:
        rules = load_sites(session, {site_id})
    if site_id not in rules:
        abort(404)
    return rules[site_id].zone


def _local(field: Field, zone: ZoneInfo, *, required: bool = True) -> datetime | None:
    """A `datetime-local` field as an aware time in the site's zone; None (and an error
    beside the field) when it is not one."""
    text = (field.data or "").strip()
    if not text:
        if required:
            field.errors = [*field.errors, _("Give the date and time.")]
        return None
    try:
        parsed = datetime.strptime(text[:16], _LOCAL_FORMAT).replace(tzinfo=zone)
    except ValueError:
        parsed = None
    if parsed is None or not 2000 <= parsed.year <= 2100:
        field.errors = [*field.errors, _("This is not a date and time.")]
        return None
    return parsed


def _now_field(zone: ZoneInfo) -> str:
    return console().clock().astimezone(zone).strftime(_LOCAL_FORMAT)


def _show(form: CheckInForm | CheckOutForm | CorrectForm, error: CorrectionError) -> None:
    if isinstance(error, SessionChanged) and not isinstance(form, CheckInForm):
        form.seen.errors = [_("The attendance changed meanwhile.")]
        return
    name = {"member_id": "member", "site_id": "site"}.get(error.field, error.field)
    field = getattr(form, name, None)
    params = {k: when(v) if isinstance(v, datetime) else v for k, v in error.params.items()}
    message = _(error.message, **params)
    if field is None:
        flash(message, "error")
    else:
        field.errors = [*field.errors, message]


class _Correction(Protocol):
    """One of `hub.presence.corrections`' functions, given all but who, why and when."""

    def __call__(self, session: Session, *, reason: str, actor: str, now: datetime) -> object: ...


def _record(
    form: CheckInForm | CheckOutForm | CorrectForm,
    site_id: str,
    correction: _Correction,
    done: str,
) -> ResponseReturnValue | None:
    """Make one of `hub.presence.corrections`' changes, with the form's reason and the signed-in
    person, in its own transaction and, once committed, tell the site's board; then back to
    the site's sessions with `done`. None when the change is refused: its error is beside
    the form's field, and the form is shown again."""
    try:
        with console().sessions.begin() as session:
            correction(session, reason=form.reason.data or "", actor=actor(), now=console().clock())
            console().changes.after_commit(session, {site_id})
    except CorrectionError as error:
        _show(form, error)
        return None
    flash(done, "success")
    if _from_board():
        return redirect(url_for("board.index", _anchor=f"site-{site_id}"))
    return redirect(url_for("sessions.index", site=site_id))


def _from_board() -> bool:
    """The form was opened from the board's "Who is in": back there once done."""
    return request.args.get("back") == "board"


@bp.route("/new", methods=["GET", "POST"])
@login_required
def check_in() -> ResponseReturnValue:
    """A manual check-in: the member came in without badging."""
    form = CheckInForm()
    names = site_names()
    form.site.choices = list(names.items())
    if request.method == "GET":
        form.site.data = request.args.get("site") or next(iter(names), None)
        if form.site.data:
            form.at.data = _now_field(_zone(require_site(form.site.data)))
        form.member.data = request.args.get("member", "")
    elif form.validate_on_submit():
        site_id = require_site(form.site.data or "")
        at = _local(form.at, _zone(site_id))
        member = None
        try:
            with console().sessions() as session:
                member = members.match_one(session, form.member.data or "")
        except Invalid as error:
            form.member.errors = [*form.member.errors, _(error.message, **error.params)]
        if at is not None and member is not None:
            recorded = _record(
                form,
                site_id,
                partial(manual_check_in, member_id=member.id, site_id=site_id, at=at),
                _("%(name)s is checked in at %(site)s.", name=member.name, site=names[site_id]),
            )
            if recorded is not None:
                return recorded
    return render_template("console/sessions/check_in.html", form=form)


def _session_or_404(session_id: int) -> queries.SessionRow:
    with console().sessions() as session:
        row = queries.session_by_id(session, session_id, sites=allowed_sites())
    if row is None or row.member_id is None:
        abort(404)
    return row


def _name_of(row: queries.SessionRow) -> str:
    with console().sessions() as session:
        return members.names(session, [row.member_id]).get(row.member_id or "", "–")


def _version(row: queries.SessionRow) -> str:
    return version_of(row.start, row.end, row.end_reason)


def _now_is(row: queries.SessionRow) -> str:
    """What a session is now, in words, for a person whose form was about an older view."""
    start, end = when(row.start), when(row.end)
    if row.end is None:
        return str(_("arrived %(start)s, still in", start=start))
    if row.end_reason == "tap":
        return str(_("arrived %(start)s, left %(end)s (badge)", start=start, end=end))
    if row.end_reason == "elsewhere":
        return str(
            _("arrived %(start)s, left %(end)s (seen at another site)", start=start, end=end)
        )
    if row.auto_closed:
        return str(_("arrived %(start)s, closed automatically %(end)s", start=start, end=end))
    return str(_("arrived %(start)s, checked out by hand %(end)s", start=start, end=end))


def _session_form(
    template: str, form: CheckOutForm | CorrectForm, session_id: int
) -> ResponseReturnValue:
    """A form about one stored session, shown with whose it is and where as it stands now.

    A form sent about an older view of it (a tap closed it meanwhile) is shown again with
    409, what the session is now, and what the person typed; sending it again applies it to
    the session as it now is."""
    row = _session_or_404(session_id)
    changed = bool(form.seen.errors)
    if changed:
        flash(_("The attendance changed: %(now)s.", now=_now_is(row)), "error")
    if changed or not form.seen.data:
        form.seen.data = _version(row)
    page = render_template(
        template,
        form=form,
        row=row,
        name=_name_of(row),
        sites=site_names(),
        back=url_for("board.index") if _from_board() else url_for("sessions.index", site=row.site),
    )
    return page, 409 if changed else 200


@bp.route("/<int:session_id>/check-out", methods=["GET", "POST"])
@login_required
def check_out(session_id: int) -> ResponseReturnValue:
    """A check-out by hand: the member left without badging (or the auto-close was wrong)."""
    row = _session_or_404(session_id)
    zone = _zone(row.site)
    form = CheckOutForm()
    if request.method == "GET":
        form.at.data = _now_field(zone)
        if _from_board():
            form.reason.data = _("Left without badging (seen on the board).")
    elif form.validate_on_submit():
        at = _local(form.at, zone)
        if at is not None:
            recorded = _record(
                form,
                row.site,
                partial(
                    manual_check_out, session_id=session_id, at=at, seen=form.seen.data or None
                ),
                _("Check-out recorded for %(name)s.", name=_name_of(row)),
            )
            if recorded is not None:
                return recorded
    return _session_form("console/sessions/check_out.html", form, session_id)


@bp.route("/<int:session_id>/correct", methods=["GET", "POST"])
@login_required
def correct(session_id: int) -> ResponseReturnValue:
    """Set a session's arrival and departure as a person knows them to be."""
    row = _session_or_404(session_id)
    zone = _zone(row.site)
    form = CorrectForm()
    if request.method == "GET":
        form.start.data = row.start.astimezone(zone).strftime(_LOCAL_FORMAT)
        form.end.data = row.end.astimezone(zone).strftime(_LOCAL_FORMAT) if row.end else ""
    elif form.validate_on_submit():
        start = _local(form.start, zone)
        end = _local(form.end, zone, required=False)
        if start is not None and not form.end.errors:
            recorded = _record(
                form,
                row.site,
                partial(
                    correct_session,
                    session_id=session_id,
                    start=start,
                    end=end,
                    seen=form.seen.data or None,
                ),
                _("The session of %(name)s is corrected.", name=_name_of(row)),
            )
            if recorded is not None:
                return recorded
    return _session_form("console/sessions/correct.html", form, session_id)
