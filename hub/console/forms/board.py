from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, TextAreaField
from wtforms.validators import DataRequired, Length


class AcknowledgeForm(FlaskForm):  # type: ignore[misc]
    """Only the CSRF token: the alarm is in the URL."""


class OpenDoorForm(FlaskForm):  # type: ignore[misc]
    door = SelectField(_l("Door"), validators=[DataRequired(_l("Choose a door."))])
    reason = TextAreaField(
        _l("Reason"),
        description=_l("Kept in the audit log: a visitor's name, a delivery…"),
        validators=[DataRequired(_l("Say why the door is opened.")), Length(max=500)],
        render_kw={"rows": 2, "maxlength": 500},
    )
