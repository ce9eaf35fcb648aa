"""Reading the query string the same way on every console page: a page number, a day, and
the report pages' shared choice of month and sites.

A list's filters come from the URL, which anyone can edit: a bad value must give the page
with its default and, for a day, an error beside the field, never a crash (a 500).
"""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from flask import request

from hub.console.access import allowed_sites, me, require_site
from hub.console.i18n import TIMEZONE
from hub.console.i18n import gettext as _
from hub.console.services import console
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


def asked_month(default: date, errors: dict[str, str]) -> str:
    """The query string's `month` ("YYYY-MM", within the reports' range), else `default`'s;
    a value that is not such a month gives `default`'s too, and an error in `errors`."""
    text = request.args.get("month", "").strip()
    fallback = default.strftime("%Y-%m")
    if not text:
        return fallback
    try:
        if len(text) != 7:
            raise ValueError(text)
        report_day(f"{text}-01")
    except ValueError:
        errors["month"] = _("This is not a month.")
        return fallback
    return text


class ReportChoice:
    """What the report pages read alike from the query string: the sites (each one the user
    may see, else 404; all of those when none is asked), a month, a page; `errors` by field,
    in words."""

    def __init__(self) -> None:
        # The console's day (Europe/Paris), not UTC's: from 23:00 UTC in winter it is
        # already tomorrow in Cantal, and a year "to today" would end the day before the
        # figures' own stamp.
        self.today = console().clock().astimezone(ZoneInfo(TIMEZONE)).date()
        self.errors: dict[str, str] = {}
        asked = [site for site in request.args.getlist("site") if site]
        self.chosen = [require_site(site) for site in asked] or allowed_sites()
        self.month = asked_month(self.today, self.errors)
        self.page = page_number()

    @property
    def sites(self) -> list[str] | None:
        """What to read: None (the whole network) only for staff who chose every site."""
        if me().account.all_sites and set(self.chosen) == set(allowed_sites()):
            return None
        return self.chosen
