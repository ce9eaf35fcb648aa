"""Query parameters, checked before any report runs: a bad one answers 400 with a sentence
naming it, its value and what was expected. Unknown parameters are refused too: a typo
(`sit=murat`) must not quietly answer for every site."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date

from flask import request

from hub.api.errors import ApiError
from telecentre import wire

_MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def bad(name: str, message: str) -> ApiError:
    return ApiError(400, f"parameter '{name}': {message}")


def only(*names: str) -> None:
    """Refuse any parameter but `names` and `format`."""
    allowed = (*names, "format")
    for name in request.args:
        if name not in allowed:
            raise ApiError(
                400, f"unknown parameter '{name}' (this call takes {', '.join(allowed)})"
            )


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
        return wire.parse_date(value)
    except ValueError:
        raise bad(name, f"'{value}' is not a date (YYYY-MM-DD)") from None


def period() -> tuple[date, date]:
    """`from` and `to`, both included."""
    first, last = day("from"), day("to")
    if last < first:
        raise bad("to", f"{last} is before 'from' ({first})")
    return first, last


def month(name: str = "month") -> str:
    value = _required(name, "a month, YYYY-MM")
    if not _MONTH_RE.match(value):
        raise bad(name, f"'{value}' is not a month (YYYY-MM)")
    return value


def choice(name: str, choices: Sequence[str], default: str) -> str:
    value = text(name) or default
    if value not in choices:
        raise bad(name, f"'{value}' is not one of {', '.join(choices)}")
    return value


def whole(name: str, default: int, lowest: int, highest: int) -> int:
    value = text(name)
    if value is None:
        return default
    if not value.isdecimal() or not lowest <= int(value) <= highest:
        raise bad(name, f"'{value}' is not a whole number from {lowest} to {highest}")
    return int(value)


def wants_csv() -> bool:
    return choice("format", ("json", "csv"), "json") == "csv"
