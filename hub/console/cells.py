"""A cell of a report table (`hub.reports.tables`) as the page shows it, in the reader's
language: the same values the files carry, with the console's French formats."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from flask_babel import format_date, format_decimal, format_percent

from hub.console.i18n import euros, hours, number, when
from hub.reports.tables import Cell, Kind


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
    if kind == "rate":
        return str(format_percent(value, "#,##0.0 %"))
    if kind == "change":
        return str(format_percent(value, "+#,##0.0 %;-#,##0.0 %"))
    if kind == "points":
        return str(format_decimal(Decimal(value) * 100, "+#,##0.0;-#,##0.0")) + "\u00a0pts"
    if kind == "euros":
        return euros(float(value))
    if kind == "hours":
        return hours(float(value))
    if kind == "number":
        return number(float(value), 1)
    return number(float(value))


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
