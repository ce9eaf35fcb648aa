"""Reading the query string the same way on every console page: a page number and a day.

A list's filters come from the URL, which anyone can edit: a bad value must give the page
with its default and, for a day, an error beside the field, never a crash (a 500).
"""

from __future__ import annotations

from datetime import date

from flask import request

from hub.console.i18n import gettext as _
from hub.reports.queries import report_day

#: Far more pages than any list has: a longer number is a typing slip or a probe.
MAX_PAGE_DIGITS = 6


def page_number() -> int:
    """The `page` asked for, counted from 1; 1 when it is missing or not a positive number
    (ASCII digits only: `isdigit` also takes `²`, which `int` does not)."""
    text = request.args.get("page", "1")
    ok = text.isascii() and text.isdecimal() and len(text) <= MAX_PAGE_DIGITS
    return int(text) if ok and int(text) > 0 else 1


def asked_day(name: str, default: date, errors: dict[str, str]) -> date:
    """The day in the query string's `name` (YYYY-MM-DD, within the reports' range), else
    `default`; a value that is not such a day gives `default` too, and an error for the field
    in `errors`."""
    text = request.args.get(name, "").strip()
    if not text:
        return default
    try:
        return report_day(text)
    except ValueError:
        errors[name] = _("This is not a date.")
        return default
