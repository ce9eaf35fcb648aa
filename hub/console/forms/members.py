"""The members page's forms. They carry the CSRF token and the labels; the rules a member
must follow are the members file's, checked by `hub.people.members` (errors come back per field)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, SelectField, StringField, TextAreaField

CATEGORY_LABELS = {
    "independent": _l("freelancer"),
    "employee": _l("employee"),
    "mobile": _l("mobile worker"),
    "other": _l("other"),
}


class MemberForm(FlaskForm):  # type: ignore[misc]
    member_id = StringField(
        _l("Member number"),
        description=_l("As on the Pass card: letters, digits, '.', '_' or '-'."),
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )
    last_name = StringField(_l("Last name"), render_kw={"autocomplete": "off"})
    first_name = StringField(_l("First name"), render_kw={"autocomplete": "off"})
    email = EmailField(_l("E-mail (optional)"), render_kw={"autocomplete": "off"})
    category = SelectField(
        _l("Category"), choices=[(key, label) for key, label in CATEGORY_LABELS.items()]
    )
    pass_since = StringField(
        _l("Pass Actifs Mobiles since (optional)"),
        description=_l("Free for the first six months of membership."),
        render_kw={"type": "date"},
    )
    pass_until = StringField(
        _l("Pass valid until (optional)"),
        description=_l("Leave empty if it does not end."),
        render_kw={"type": "date"},
    )
    address = TextAreaField(
        _l("Postal address (optional)"),
        description=_l(
            "Printed on their invoices: the street, then the postcode and town on the last "
            "line (15300 Murat). A business must have it on its invoices."
        ),
        render_kw={"rows": 3, "autocomplete": "off"},
    )


class BadgeForm(FlaskForm):  # type: ignore[misc]
    badge = StringField(
        _l("Badge number"),
        description=_l("Printed on the card, or shown above when it was presented at a door."),
        render_kw={"autocomplete": "off", "spellcheck": "false", "inputmode": "text"},
    )


class ConfirmForm(FlaskForm):  # type: ignore[misc]
    """Only the CSRF token: what to do is in the URL (revoke a badge, deactivate a member)."""
