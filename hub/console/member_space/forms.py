"""The member space's forms: they carry the CSRF token and the labels."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, StringField
from wtforms.validators import DataRequired, Length


class LinkForm(FlaskForm):  # type: ignore[misc]
    email = EmailField(
        _l("Your e-mail address"),
        description=_l("The one the télécentre has for you."),
        validators=[
            DataRequired(_l("Enter your e-mail address.")),
            Length(max=320),
        ],
        render_kw={"autocomplete": "email", "autocapitalize": "none", "spellcheck": "false"},
    )


class CodeForm(FlaskForm):  # type: ignore[misc]
    code = StringField(
        _l("Your one-time code"),
        description=_l("The code an animator gave you, for example ABCDE-FGHJK."),
        validators=[DataRequired(_l("Enter the code.")), Length(max=40)],
        render_kw={"autocomplete": "one-time-code", "autocapitalize": "characters",
                   "spellcheck": "false"},
    )  # fmt: skip


class ConfirmForm(FlaskForm):  # type: ignore[misc]
    """A button that changes something: only its CSRF token."""
