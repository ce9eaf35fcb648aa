"""The sessions page's forms: a manual check-in, a check-out, a correction. Each needs a
reason, kept with the session and in the audit log; the rules (no overlap, not in the future,
the end after the start) are `hub.presence.corrections`'."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

REASON_HELP = _l(
    "Kept with the session and in the audit log: a forgotten badge, a forgotten check-out…"
)


def _reason() -> TextAreaField:
    return TextAreaField(
        _l("Reason"),
        description=REASON_HELP,
        validators=[DataRequired(_l("Say why: it is kept with the session.")), Length(max=500)],
        render_kw={"rows": 2, "maxlength": 500},
    )


def _moment(label: str, help_text: str | None = None) -> StringField:
    return StringField(
        label,
        description=help_text,
        render_kw={"type": "datetime-local", "step": 60},
    )


class CheckInForm(FlaskForm):  # type: ignore[misc]
    member = StringField(
        _l("Member"),
        description=_l("Name or member number."),
        validators=[DataRequired(_l("Type the member's name or number."))],
        render_kw={"autocomplete": "off"},
    )
    site = SelectField(_l("Site"))
    at = _moment(_l("Arrival"), _l("In the site's local time."))
    reason = _reason()


class CheckOutForm(FlaskForm):  # type: ignore[misc]
    at = _moment(_l("Departure"), _l("In the site's local time."))
    reason = _reason()
    #: The session's `hub.presence.corrections.version` when the form was shown.
    seen = HiddenField()


class CorrectForm(FlaskForm):  # type: ignore[misc]
    start = _moment(_l("Arrival"), _l("In the site's local time."))
    end = _moment(_l("Departure"), _l("Leave empty if the member is still in."))
    reason = _reason()
    #: The session's `hub.presence.corrections.version` when the form was shown.
    seen = HiddenField()
