from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

ROLE_CHOICES = [
    ("animator", _l("Animator: the sites below only")),
    ("department", _l("Department: every site, reports")),
    ("admin", _l("Administrator: every site, users and tokens")),
]


def email_field() -> EmailField:
    """The same field on the admin's forms and on "My account"; the hub checks the address."""
    return EmailField(
        _l("E-mail address"),
        description=_l("Where alerts go (forced door, door offline…). Leave empty for none."),
        validators=[Optional(), Length(max=320)],
        render_kw={"autocomplete": "email", "spellcheck": "false"},
    )


class CheckboxList(SelectMultipleField):  # type: ignore[misc]
    """Sites as checkboxes (easier to tap on a phone than a multiple select)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class UserForm(FlaskForm):  # type: ignore[misc]
    login = StringField(
        _l("Login"),
        description=_l("Lowercase letters, digits, '.', '_' or '-', e.g. marie.vidal"),
        validators=[DataRequired(_l("Enter a login.")), Length(max=64)],
        render_kw={"autocapitalize": "none", "spellcheck": "false", "autocomplete": "off"},
    )
    display_name = StringField(
        _l("Name shown"), validators=[DataRequired(_l("Enter a name.")), Length(max=200)]
    )
    email = email_field()
    role = SelectField(_l("Role"), choices=ROLE_CHOICES, default="animator")
    sites = CheckboxList(_l("Sites run (animators)"), choices=[], validate_choice=False)
    password = PasswordField(
        _l("Password"),
        description=_l("At least 10 characters. Give it to the person by a safe way."),
        validators=[DataRequired(_l("Enter a password.")), Length(max=256)],
        render_kw={"autocomplete": "new-password"},
    )


class EditUserForm(FlaskForm):  # type: ignore[misc]
    display_name = StringField(
        _l("Name shown"), validators=[DataRequired(_l("Enter a name.")), Length(max=200)]
    )
    email = email_field()
    role = SelectField(_l("Role"), choices=ROLE_CHOICES)
    sites = CheckboxList(_l("Sites run (animators)"), choices=[], validate_choice=False)


class PasswordForm(FlaskForm):  # type: ignore[misc]
    password = PasswordField(
        _l("New password"),
        description=_l("At least 10 characters. Open sessions of this user end."),
        validators=[DataRequired(_l("Enter a password.")), Length(max=256)],
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        _l("The same again"),
        validators=[EqualTo("password", _l("The two passwords differ."))],
        render_kw={"autocomplete": "new-password"},
    )


class ActiveForm(FlaskForm):  # type: ignore[misc]
    """Only the CSRF token: enabling or disabling is in the URL."""


class TokenForm(FlaskForm):  # type: ignore[misc]
    name = StringField(
        _l("Name"),
        description=_l('Who or what uses it, e.g. "accounting spreadsheet"'),
        validators=[DataRequired(_l("Enter a name.")), Length(max=100)],
    )
    role = SelectField(_l("Access"), choices=[])
    site = SelectField(_l("Site (animator access)"), choices=[], validators=[Optional()])
