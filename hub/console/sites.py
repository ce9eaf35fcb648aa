"""The sites page (admin and department): positions by kind, opening hours, closures,
tariffs, ZRR, yearly cost, who issues the invoices — one site at a time, by the sites
file's own rules (`hub.people.imports.save_site`), each refusal beside its field. A change
to the opening hours or closures sends the site's doors a new access list at once.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict

from hub.console.access import actor, roles_required
from hub.console.forms import sites as site_form
from hub.console.i18n import gettext as _
from hub.console.services import console
from hub.people import imports
from hub.rules import legal
from hub.store.models import Site

bp = Blueprint("sites", __name__, url_prefix="/sites")

STAFF = ("admin", "department")


@bp.get("/")
@roles_required(*STAFF)
def index() -> ResponseReturnValue:
    with console().sessions() as session:
        entries = imports.site_entries(session)
    missing = {
        entry["id"]: site_form.identity_words(legal.missing_identity(entry["invoicing"]))
        for entry in entries
    }
    return render_template(
        "console/sites/index.html", entries=entries, kinds=site_form.KINDS, missing=missing
    )


def _stored(site_id: str) -> dict[str, Any]:
    with console().sessions() as session:
        site = session.get(Site, site_id)
        if site is None:
            abort(404)
        return imports.site_entry(site)


def _page(values: dict[str, str], errors: dict[str, list[str]], creating: bool) -> str:
    spaces = 0
    while values.get(f"spaces-{spaces}-id"):
        spaces += 1
    return render_template(
        "console/sites/edit.html",
        values=values,
        errors=errors,
        creating=creating,
        space_rows=range(spaces + site_form.SPARE_SPACES),
        days=site_form.DAYS,
        kinds=site_form.KINDS,
        rates=site_form.RATES,
        rate_fields=site_form.RATE_FIELDS,
        form=FlaskForm(),
    )


def _save(site_id: str | None) -> ResponseReturnValue:
    creating = site_id is None
    form: MultiDict[str, str] = request.form
    entry = site_form.entry_from_form(form, site_id)
    try:
        with console().sessions.begin() as session:
            spec, result = imports.save_site(session, entry, creating=creating, actor=actor())
    except imports.InvalidSite as invalid:
        errors: dict[str, list[str]] = {}
        for problem in invalid.problems:
            errors.setdefault(site_form.field_of(problem), []).append(site_form.message(problem))
        flash(_("Nothing was saved: correct the fields marked below."), "error")
        values = {key: form.get(key, "") for key in form}
        if site_id is not None:
            values["id"] = site_id
        return _page(values, errors, creating)
    publish = console().publish_access_lists
    if result.access_changed and publish is not None:
        publish(result.access_changed)
    if creating:
        flash(_("Site %(name)s created.", name=spec.name), "success")
    elif result.updated:
        flash(_("Site %(name)s saved.", name=spec.name), "success")
    else:
        flash(_("Nothing changed for %(name)s.", name=spec.name), "info")
    return redirect(url_for("sites.index"))


@bp.route("/new", methods=["GET", "POST"])
@roles_required(*STAFF)
def create() -> ResponseReturnValue:
    if request.method == "POST":
        return _save(None)
    values = {"timezone": "Europe/Paris", "rounding_min": "15"}
    return _page(values, {}, True)


@bp.route("/<site_id>", methods=["GET", "POST"])
@roles_required(*STAFF)
def edit(site_id: str) -> ResponseReturnValue:
    stored = _stored(site_id)
    if request.method == "POST":
        return _save(site_id)
    return _page(site_form.form_values(stored), {}, False)
