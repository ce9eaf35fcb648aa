"""Turning report values into JSON, CSV and Excel.

JSON carries numbers as numbers (hours with the rules' 4 decimals, amounts with 2) and times
as ISO strings; Flask's defaults would send Decimals as strings and dates as HTTP dates.
CSV rounds hours and amounts to 2 decimals, half up, for a spreadsheet to sum, and every
cell goes through `hub.reports.exports.no_formula`: a text from outside never becomes a formula.
`?format=xlsx` answers the same table as an Excel file wherever CSV is answered: numbers as
numbers (hours, amounts, rates with their number format, from the column's name), times as
local times, texts as texts.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from flask import Response, request

from hub.reports.exports import no_formula
from hub.reports.spreadsheets import workbook
from hub.reports.tables import Cell, Column, Kind, Table
from hub.rules.model import CENT

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_DECIMAL_RE = re.compile(r"-?\d+\.\d+")


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
    `two_decimals` first); an Excel file of the same cells with `?format=xlsx`."""
    if request.args.get("format") == "xlsx":
        return _xlsx_response(filename, header, rows, headers)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([no_formula(name) for name in header])
    writer.writerows([_cell(value) for value in row] for row in rows)
    response = Response(buffer.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers.update(headers or {})
    return response


def _kind(name: str, values: Sequence[Cell]) -> Kind:
    """A column's number format from its name (`hours`, `amount_eur`, `occupancy_rate`…)
    and values: what a spreadsheet user sees, the cells keep their exact values."""
    if any(isinstance(value, datetime) for value in values):
        return "datetime"
    if any(isinstance(value, date) for value in values):
        return "date"
    if not any(isinstance(value, Decimal | int) for value in values):
        return "text"
    if name.endswith("rate") and all(not isinstance(value, int) for value in values):
        return "rate"
    if name.endswith(("_eur", "cost_per_position")):
        return "euros"
    if "hours" in name:
        return "hours"
    return "number" if any(isinstance(value, Decimal) for value in values) else "count"


def _typed(value: object) -> Cell:
    if value is None or isinstance(value, bool):
        return None if value is None else ("true" if value else "false")
    if isinstance(value, int | Decimal | date):
        return value
    text = str(value)
    return Decimal(text) if _DECIMAL_RE.fullmatch(text) else text


def _xlsx_response(
    filename: str,
    header: Sequence[str],
    rows: Iterable[Sequence[object]],
    headers: dict[str, str] | None,
) -> Response:
    cells = [[_typed(value) for value in row] for row in rows]
    columns = [
        Column(name, _kind(name, [row[index] for row in cells]))
        for index, name in enumerate(header)
    ]
    name = filename.rsplit(".", 1)[0]
    content = workbook([Table(name[:31], name, columns, cells)])
    response = Response(content, mimetype=XLSX)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.xlsx"'
    response.headers.update(headers or {})
    return response
