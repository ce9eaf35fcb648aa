"""Users and API tokens, for admins: the same functions as `telecentre-hub user …` and
`telecentre-hub token …` (`hub.people.users`, `hub.people.api_tokens`), each change audited."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm

from hub.console.access import actor, me, roles_required, site_names
from hub.console.audit_words import actor_labels
from hub.console.forms.admin import ActiveForm, EditUserForm, PasswordForm, TokenForm, UserForm
from hub.console.i18n import gettext as _
from hub.console.query import page_number
from hub.console.services import console
from hub.mail import queue
from hub.people import api_tokens, users
from hub.people.users import Invalid

bp = Blueprint("admin", __name__, url_prefix="/admin")

TOKEN_ROLES = [
    ("animator", _l("Animator of one site")),
    ("department", _l("Department: every site")),
    ("admin", _l("Administrator")),
]


def _refused(form: FlaskForm, refused: Invalid) -> None:
    """The hub's refusal beside the field it names (the form's first field if it has none)."""
    field = getattr(form, refused.field, None) or next(iter(form))
    field.errors = [*field.errors, _(refused.message, **refused.params)]


@bp.get("/users", endpoint="users")
@roles_required("admin")
def users_page() -> ResponseReturnValue:
    with console().sessions() as session:
        everyone = users.accounts(session)
    return render_template(
        "console/admin/users.html", accounts=everyone, sites=site_names(), active_form=ActiveForm()
    )


@bp.route("/users/new", methods=["GET", "POST"])
@roles_required("admin")
def new_user() -> ResponseReturnValue:
    form = UserForm()
    form.sites.choices = list(site_names().items())
    if form.validate_on_submit():
        try:
            with console().sessions.begin() as session:
                made = users.create_user(
                    session,
                    login=form.login.data or "",
                    display_name=form.display_name.data or "",
                    role=form.role.data or "",
                    sites=form.sites.data if form.role.data == "animator" else [],
                    password=form.password.data or "",
                    actor=actor(),
                    email=form.email.data,
                )
        except Invalid as refused:
            _refused(form, refused)
        else:
            flash(_("User %(login)s created.", login=made.login), "success")
            return redirect(url_for("admin.users"))
    return render_template("console/admin/user_new.html", form=form)


def _account_or_404(login: str) -> users.Account:
    with console().sessions() as session:
        found = users.account_by_login(session, login)
    if found is None:
        abort(404)
    return found


@bp.route("/users/<login>", methods=["GET", "POST"])
@roles_required("admin")
def edit_user(login: str) -> ResponseReturnValue:
    account = _account_or_404(login)
    form = EditUserForm(
        data={
            "display_name": account.display_name,
            "email": account.email or "",
            "role": account.role,
            "sites": list(account.sites),
        }
    )
    form.sites.choices = list(site_names().items())
    if form.validate_on_submit():
        try:
            with console().sessions.begin() as session:
                users.update_user(
                    session,
                    login,
                    display_name=form.display_name.data,
                    role=form.role.data,
                    sites=form.sites.data if form.role.data == "animator" else [],
                    actor=actor(),
                )
                users.set_email(session, login, form.email.data, actor=actor())
        except Invalid as refused:
            _refused(form, refused)
        else:
            flash(_("User %(login)s changed.", login=login), "success")
            return redirect(url_for("admin.users"))
    return render_template(
        "console/admin/user_edit.html",
        form=form,
        account=account,
        password_form=PasswordForm(),
        active_form=ActiveForm(),
    )


@bp.post("/users/<login>/password")
@roles_required("admin")
def user_password(login: str) -> ResponseReturnValue:
    account = _account_or_404(login)
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            with console().sessions.begin() as session:
                users.set_password(session, login, form.password.data or "", actor=actor())
        except Invalid as refused:
            _refused(form, refused)
        else:
            flash(_("New password set for %(login)s.", login=login), "success")
            return redirect(url_for("admin.users"))
    edit = EditUserForm(
        data={
            "display_name": account.display_name,
            "email": account.email or "",
            "role": account.role,
            "sites": account.sites,
        }
    )
    edit.sites.choices = list(site_names().items())
    return render_template(
        "console/admin/user_edit.html",
        form=edit,
        account=account,
        password_form=form,
        active_form=ActiveForm(),
    ), 422


@bp.post("/users/<login>/<any(enable, disable):verb>")
@roles_required("admin")
def user_active(login: str, verb: str) -> ResponseReturnValue:
    _account_or_404(login)
    if not ActiveForm().validate_on_submit():
        abort(400)
    if verb == "disable" and login == me().login:
        flash(_("You cannot disable your own account."), "error")
        return redirect(url_for("admin.users"))
    with console().sessions.begin() as session:
        users.set_active(session, login, verb == "enable", actor=actor())
    message = _("User %(login)s enabled.") if verb == "enable" else _("User %(login)s disabled.")
    flash(message % {"login": login}, "success")
    return redirect(url_for("admin.users"))


MAIL_PAGE = 50


@bp.get("/mail")
@roles_required("admin")
def mail() -> ResponseReturnValue:
    """The outgoing e-mails, newest first: sent, waiting (and why), given up (and why)."""
    page = page_number()
    with console().sessions() as session:
        listed = queue.recent(session, page=page, per_page=MAIL_PAGE)
    pages = max(1, -(-listed.total // MAIL_PAGE))
    return render_template(
        "console/admin/mail.html",
        listed=listed,
        page=min(page, pages),
        pages=pages,
        page_url=lambda number: url_for("admin.mail", page=number),
        configured=current_app.config["HUB_CONFIG"].mail.smtp is not None,
    )


def _token_form() -> TokenForm:
    form = TokenForm()
    form.role.choices = [(value, str(label)) for value, label in TOKEN_ROLES]
    form.site.choices = [("", "–"), *site_names().items()]
    return form


@bp.route("/tokens", methods=["GET", "POST"])
@roles_required("admin")
def tokens() -> ResponseReturnValue:
    form = _token_form()
    made = None
    if form.validate_on_submit():
        role = form.role.data or ""
        if role == "animator":
            role = f"animator:{form.site.data or ''}"
        try:
            with console().sessions.begin() as session:
                made = api_tokens.add_token(session, form.name.data or "", role, actor=actor())
        except Invalid as refused:
            if refused.field == "role" and role.startswith("animator"):
                refused.field = "site"
            _refused(form, refused)
        else:
            form = _token_form()
            form.name.data = ""
    with console().sessions() as session:
        listed = api_tokens.tokens(session)
        actors = actor_labels(session, {t.created_by for t in listed})
    return render_template(
        "console/admin/tokens.html",
        form=form,
        tokens=listed,
        made=made,
        active_form=ActiveForm(),
        sites=site_names(),
        actors=actors,
    )


@bp.post("/tokens/<int:token_id>/revoke")
@roles_required("admin")
def revoke_token(token_id: int) -> ResponseReturnValue:
    if not ActiveForm().validate_on_submit():
        abort(400)
    with console().sessions.begin() as session:
        name = next((t.name for t in api_tokens.tokens(session) if t.id == token_id), None)
        if name is None:
            abort(404)
        api_tokens.revoke_token(session, name, actor=actor())
    flash(_("Token %(name)s revoked: it no longer opens the API.", name=name), "success")
    return redirect(url_for("admin.tokens"))
