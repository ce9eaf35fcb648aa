"""Reading the query string the same way on every console page: a page number and a day.

A list's filters come from the URL, which anyone can edit: a bad value must give the page
with its default and, for a day, an error beside the field, never a crash (a 500).
"""

from __future__ import annotations

from datetime import date

from flask import request
from flask_babel import gettext as _

from telecentre import wire


def page_number() -> int:
    """The `page` asked for, counted from 1; 1 when it is missing or not a positive number."""
    text = request.args.get("page", "1")
    return int(text) if text.isdigit() and int(text) > 0 else 1


def asked_day(name: str, default: date, errors: dict[str, str]) -> date:
    """The day in the query string's `name` (YYYY-MM-DD), else `default`; a value that is not
    a day gives `default` too, and an error for the field in `errors`."""
    text = request.args.get(name, "").strip()
    if not text:
        return default
    try:
        return wire.parse_date(text)
    except ValueError:
        errors[name] = _("This is not a date.")
        return default
