"""The billing page's form: closing a month, which must be confirmed (a closed month's lines
and invoices never change again)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField
from wtforms.validators import DataRequired, Regexp


class CloseForm(FlaskForm):  # type: ignore[misc]
    month = HiddenField(
        validators=[Regexp(r"^[0-9]{4}-[0-9]{2}$", message=_l("This is not a month."))]
    )
    confirm = BooleanField(
        _l("I have checked this month: its lines and invoices will never change again."),
        validators=[DataRequired(_l("Tick the box to confirm the close."))],
    )
