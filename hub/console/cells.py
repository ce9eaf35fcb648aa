"""A cell of a report table (`hub.reports.tables`) as the page shows it, in the reader's
language: the same values the files carry, with the console's French formats.

Numbers are formatted as `flask_babel.format_decimal` does (the same babel pattern applied
in the request's locale), with each pattern parsed once: babel parses it again on every
call, and an evaluation page formats a thousand cells."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import cache

from babel.core import Locale
from babel.numbers import LC_NUMERIC, NumberPattern, parse_pattern
from flask_babel import format_date, get_locale

from hub.console.i18n import euros, when
from hub.reports.tables import Cell, Kind

#: The babel pattern of each numeric kind (`euros` aside: a currency's own pattern), and
#: what follows the number.
_PATTERNS: dict[str, tuple[str, str]] = {
    "rate": ("#,##0.0 %", ""),
    "change": ("+#,##0.0 %;-#,##0.0 %", ""),
    "points": ("+#,##0.0;-#,##0.0", "\u00a0pts"),
    "hours": ("#,##0.0", "\u00a0h"),
    "number": ("#,##0.0", ""),
    "count": ("#,##0", ""),
}


@cache
def _pattern(text: str) -> NumberPattern:
    return parse_pattern(text)


def shown(kind: Kind, value: Cell) -> str:
    if value is None:
        return "–"
    if isinstance(value, datetime):
        return when(value)
    if isinstance(value, date):
        if kind == "month":
            return str(format_date(value, "LLL yyyy"))
        return str(format_date(value, "d MMM yyyy"))
    if isinstance(value, str):
        return value
    if kind == "euros":
        return euros(float(value))
    pattern, unit = _PATTERNS.get(kind, _PATTERNS["count"])
    # Rates as given, points × 100, the rest as floats: as the console's `i18n` helpers.
    number: float | Decimal = value if kind in ("rate", "change") else float(value)
    if kind == "points":
        number = Decimal(value) * 100
    locale = Locale.parse(get_locale() or LC_NUMERIC)
    return str(_pattern(pattern).apply(number, locale)) + unit


def raw(value: Cell) -> str:
    """The value a chart reads from the cell's `data-v` (a machine's number, or nothing)."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        return ""
    return str(value)


def heat_level(value: Cell, highest: Decimal) -> int:
    """0 to 9: the heat map's class (`heat-N`), relative to its highest cell."""
    if not isinstance(value, Decimal) or not highest:
        return 0
    return min(9, int(value / highest * 9 + Decimal("0.5")))
