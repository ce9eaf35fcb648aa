"""The evaluation's period as the department names it: a calendar year (`?year=2025`, the
year to date for the current one) or any two days, and its title with the year in it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from babel.lists import format_list
from flask import request
from flask_babel import format_date, format_datetime, get_locale, gettext, to_user_timezone

from hub.console.i18n import DEFAULT_LANGUAGE
from hub.reports.invoice_sheet import day_words
from hub.reports.queries import EARLIEST_DAY, LATEST_DAY


def _(message: str, **params: object) -> str:
    """Flask-Babel's gettext, typed (the catalog's extractor reads `_("...")` calls)."""
    return str(gettext(message, **params))


#: The years the evaluation page offers as one click (any other through its two dates).
YEARS_OFFERED = 6


def asked_year(today: date) -> int | None:
    """The `year` of the query string, if it is one the reports can read; a bad one is
    ignored (the two days then say the period)."""
    text = request.args.get("year", "").strip()
    if not (text.isascii() and text.isdecimal() and len(text) == 4):
        return None
    year = int(text)
    return year if EARLIEST_DAY.year <= year <= min(LATEST_DAY.year, today.year) else None


def year_period(year: int, today: date) -> tuple[date, date]:
    """A calendar year; the current one up to today (days to come have no figures yet, and
    would lower the occupancy rate with their open hours)."""
    return date(year, 1, 1), min(date(year, 12, 31), today)


def month_label(month: str) -> str:
    """`novembre 2026`: a "YYYY-MM" month as the billing pages name it, in the console's
    language (a browser's own month picker speaks its own)."""
    first = date(int(month[:4]), int(month[5:7]), 1)
    return str(format_date(first, "LLLL yyyy"))


def long_day(day: date) -> str:
    return day_in_words(day, "d MMMM yyyy")


def long_moment(moment: datetime) -> str:
    """'7 décembre 2026, 15:05' in the console's time zone: when the figures were made."""
    return f"{long_day(to_user_timezone(moment).date())}, {format_datetime(moment, 'HH:mm')}"


def day_in_words(day: date, pattern: str) -> str:
    """'1er janvier 2025' in French, as the invoices write it (`invoice_sheet.day_words`),
    '1 January 2025' in English; `pattern` starts with the day."""
    return day_words(day, pattern, str(get_locale() or DEFAULT_LANGUAGE))


#: Up to this many sites are named in the evaluation's title; more are counted.
SITES_NAMED = 3


def scope_name(names: Sequence[str]) -> str:
    """'Télécentre de Murat', 'Murat et Ydes', or '5 sites': what an evaluation of chosen
    sites is of, in its title."""
    if len(names) > SITES_NAMED:
        return _("%(count)d sites", count=len(names))
    return str(format_list(list(names), locale=get_locale()))


def evaluation_title(first: date, last: date, today: date, scope: str | None) -> str:
    """'Evaluation 2025 of the network' (`scope` None), 'Evaluation 2025 — Télécentre de
    Murat', 'Evaluation 2026 of the network, to 7 December', or the two days: the year is
    always in the title, and what it evaluates is named (an animator read 'the chosen sites'
    above its one site's figures)."""
    if first.month == 1 and first.day == 1 and first.year == last.year:
        if (last.month, last.day) == (12, 31):
            if scope is None:
                return _("Evaluation %(year)d of the network", year=first.year)
            return _("Evaluation %(year)d — %(sites)s", year=first.year, sites=scope)
        if last == today:
            day = day_in_words(last, "d MMMM")
            if scope is None:
                return _("Evaluation %(year)d of the network, to %(day)s", year=first.year, day=day)
            return _(
                "Evaluation %(year)d — %(sites)s, to %(day)s", year=first.year, sites=scope, day=day
            )
    if scope is None:
        return _(
            "Evaluation of the network, %(first)s to %(last)s",
            first=long_day(first),
            last=long_day(last),
        )
    return _(
        "Evaluation — %(sites)s, %(first)s to %(last)s",
        sites=scope,
        first=long_day(first),
        last=long_day(last),
    )


def period_label(first: date, last: date) -> str:
    """'2025' for a calendar year, else its two days."""
    if (first.month, first.day, last.month, last.day) == (1, 1, 12, 31) and first.year == last.year:
        return str(first.year)
    return _("%(first)s to %(last)s", first=long_day(first), last=long_day(last))
