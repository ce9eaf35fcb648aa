from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, TimeField
from wtforms.validators import Optional

from hub.console.forms.admin import CheckboxList, email_field

#: The alerts a user may choose, in `hub.rules.alerts.KINDS` order.
ALERT_CHOICES = [
    ("door_forced", _l("A door forced open")),
    ("door_held_open", _l("A door held open too long")),
    ("door_offline", _l("A door offline (its device no longer reaches the hub)")),
    ("outbox_overflow", _l("Taps lost by a door's device (its memory was full)")),
    ("access_list_behind", _l("A door deciding from an old access list")),
]


class AccountForm(FlaskForm):  # type: ignore[misc]
    email: EmailField = email_field()
    kinds = CheckboxList(_l("Alerts I get by e-mail"), choices=ALERT_CHOICES)
    #: Within the fieldset "Quiet hours" of the page.
    quiet_start = TimeField(_l("From (hour)"), validators=[Optional()])
    quiet_end = TimeField(_l("Until (hour)"), validators=[Optional()])


class TestMailForm(FlaskForm):  # type: ignore[misc]
    """Only the CSRF token: the address is the user's own."""
