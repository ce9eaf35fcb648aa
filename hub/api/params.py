"""Query parameters, checked before any report runs: a bad one answers 400 with a sentence
naming it, its value and what was expected. Unknown parameters are refused too: a typo
(`sit=murat`) must not quietly answer for every site.

Every value is bounded before it reaches a query: printable text of at most 100 characters,
given once (`?site=a&site=b` is refused rather than half read), dates from 2000-01-01 to
2100-12-31 (the stores convert days to instants, which a year 1 would overflow), months
exactly `YYYY-MM` and identifiers matched whole (`fullmatch`: `$` alone would let a trailing
newline through)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date

from flask import request

from hub.api.errors import ApiError
from hub.people.imports import MEMBER_ID_RE
from hub.reports.queries import EARLIEST_DAY, LATEST_DAY, report_day
from telecentre import wire

MAX_VALUE_LENGTH = 100

_MONTH_RE = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
_SITE_RE = re.compile(wire.ID_PATTERN)


def bad(name: str, message: str) -> ApiError:
    return ApiError(400, f"parameter '{name}': {message}")


def only(*names: str) -> None:
    """Refuse any parameter but `names` and `format`, a parameter given twice, and a value
    that is too long or holds a control character (a percent-encoded newline or NUL)."""
    allowed = (*names, "format")
    for name in request.args:
        if name not in allowed:
            shown = name if name.isprintable() and len(name) <= MAX_VALUE_LENGTH else "…"
            raise ApiError(
                400, f"unknown parameter {shown!r} (this call takes {', '.join(allowed)})"
            )
        values = request.args.getlist(name)
        if len(values) > 1:
            raise bad(name, f"given {len(values)} times; give it once")
        value = values[0]
        if len(value) > MAX_VALUE_LENGTH:
            raise bad(name, f"longer than {MAX_VALUE_LENGTH} characters")
        if not value.isprintable():
            raise bad(name, f"{value!r} holds a control character (a newline, a tab…)")


def text(name: str) -> str | None:
    """An optional parameter; empty counts as absent, as an empty form field would send."""
    return request.args.get(name) or None


def _required(name: str, expected: str) -> str:
    value = text(name)
    if value is None:
        raise ApiError(400, f"parameter '{name}' is required ({expected})")
    return value


def day(name: str) -> date:
    value = _required(name, "a date, YYYY-MM-DD")
    try:
        return report_day(value)
    except ValueError as exc:
        raise bad(name, str(exc)) from None


def period() -> tuple[date, date]:
    """`from` and `to`, both included."""
    first, last = day("from"), day("to")
    if last < first:
        raise bad("to", f"{last} is before 'from' ({first})")
    return first, last


def month(name: str = "month") -> str:
    value = _required(name, "a month, YYYY-MM")
    if not _MONTH_RE.fullmatch(value):
        raise bad(name, f"{value!r} is not a month (YYYY-MM)")
    if not EARLIEST_DAY.year <= int(value[:4]) <= LATEST_DAY.year:
        raise bad(name, f"{value} is outside {EARLIEST_DAY:%Y-%m} to {LATEST_DAY:%Y-%m}")
    return value


def site(name: str = "site") -> str | None:
    """An optional site id, matched whole before any lookup."""
    value = text(name)
    if value is not None and not _SITE_RE.fullmatch(value):
        raise bad(name, f"{value!r} is not a site id (lower-case letters, digits and '-')")
    return value


def member(name: str = "member") -> str | None:
    """An optional member id, matched whole."""
    value = text(name)
    if value is not None and not MEMBER_ID_RE.fullmatch(value):
        raise bad(name, f"{value!r} is not a member id (letters, digits, '.', '_', '-')")
    return value


def badge(name: str = "badge") -> str | None:
    """An optional badge UID, as readers and people write it, normalised (`04A2B3C4`)."""
    value = text(name)
    if value is None:
        return None
    try:
        return wire.parse_badge(value)
    except wire.ProtocolError as exc:
        raise bad(name, str(exc)) from None


def choice(name: str, choices: Sequence[str], default: str) -> str:
    value = text(name) or default
    if value not in choices:
        raise bad(name, f"{value!r} is not one of {', '.join(choices)}")
    return value


def whole(name: str, default: int, lowest: int, highest: int) -> int:
    value = text(name)
    if value is None:
        return default
    # isdecimal() alone takes other scripts' digits ('٣'): only ASCII digits, and few of them.
    if not (value.isascii() and value.isdecimal() and len(value) <= len(str(highest))):
        raise bad(name, f"{value!r} is not a whole number from {lowest} to {highest}")
    if not lowest <= int(value) <= highest:
        raise bad(name, f"{value!r} is not a whole number from {lowest} to {highest}")
    return int(value)


def wants_csv() -> bool:
    """A file rather than JSON: CSV, or Excel (`xlsx`, which `output.csv_response` writes)."""
    return choice("format", ("json", "csv", "xlsx"), "json") != "json"
