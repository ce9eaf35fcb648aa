"""Turning report values into JSON and CSV.

JSON carries numbers as numbers (hours with the rules' 4 decimals, amounts with 2) and times
as ISO strings; Flask's defaults would send Decimals as strings and dates as HTTP dates.
CSV rounds hours and amounts to 2 decimals, half up, for a spreadsheet to sum, and every
cell goes through `hub.reports.exports.no_formula`: a text from outside never becomes a formula.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from flask import Response

from hub.reports.exports import no_formula
from hub.rules.model import CENT


def number(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def instant(value: datetime | date | None) -> str | None:
    return None if value is None else value.isoformat()


def two_decimals(value: Decimal | None) -> str:
    return "" if value is None else str(value.quantize(CENT, rounding=ROUND_HALF_UP))


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return no_formula(str(value))


def csv_response(
    filename: str,
    header: Sequence[str],
    rows: Iterable[Sequence[object]],
    headers: dict[str, str] | None = None,
) -> Response:
    """A CSV download: header row, then `rows` (format hours and amounts with
    `two_decimals` first)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([no_formula(name) for name in header])
    writer.writerows([_cell(value) for value in row] for row in rows)
    response = Response(buffer.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers.update(headers or {})
    return response
