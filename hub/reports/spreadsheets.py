"""Tables (`hub.reports.tables`) as files a spreadsheet opens as its user expects.

- `french_csv`: what French Excel and LibreOffice open by a double click: UTF-8 with a BOM
  (else Excel reads it as Windows-1252), `;` between cells (the comma is the decimal
  separator), decimal commas, no thousands separator, days as 31/12/2026; rates as
  percentages and amounts in euros, the unit in the header, so every figure stays a number.
  A table's note (why some cells are empty) is a last `Note` column, on every row: the
  columns before it stay those of the table, for a program reading them.
- `workbook`: an Excel file (openpyxl), one sheet per table, cells typed (numbers as
  numbers, days as days) with their number format (euros, percentages), the header frozen
  and bold, columns as wide as their content, and a native stacked bar chart for a table
  that asks for one (under the table). A table's note is the sheet's first line, in bold,
  above the header: the first thing a reader of the sheet reads. Every sheet prints on A4
  landscape, one page wide, its header repeated on each page.

Every text cell goes through `no_formula`: a site's or member's name never becomes a formula.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.properties import PageSetupProperties
from openpyxl.worksheet.worksheet import Worksheet

from hub.reports.exports import no_formula
from hub.reports.tables import Cell, Column, Kind, Table

BOM = "\ufeff"
_HUNDREDTH = Decimal("0.01")
_UNITS: dict[Kind, str] = {"rate": " (%)", "change": " (%)", "euros": " (€)"}
EXCEL_FORMATS: dict[Kind, str] = {
    "count": "#,##0",
    "number": "#,##0.00",
    "hours": "#,##0.00",
    "rate": "0.0%",
    "change": "+0.0%;-0.0%;0.0%",
    "points": "+0.0;-0.0;0.0",
    "euros": '#,##0.00\\ "€"',
    "date": "DD/MM/YYYY",
    "datetime": "DD/MM/YYYY HH:MM",
    "month": "MMM YYYY",
}
#: Sheet names: at most 31 characters, none of these.
_SHEET_FORBIDDEN = str.maketrans({character: " " for character in "[]:*?/\\"})
_MAX_WIDTH = 60
#: A header wider than this wraps (its column stays as wide as its figures), so that a sheet
#: printed one page wide keeps a readable type.
_HEADER_WIDTH = 12
#: Points per line of text in the default 11-point font.
_LINE_HEIGHT = 15
#: The "About" sheet's values, in characters: its long texts wrap in it.
_ABOUT_WIDTH = 100
#: A table with its chart under it prints on one page up to this many rows (two years of
#: months); a longer one runs over pages at full size.
_CHART_PAGE_ROWS = 24


def _in_points(kind: Kind, value: Decimal) -> Decimal:
    """A rate's percentage (`rate` in CSV, `points` everywhere): 0.3542 → 35.42."""
    return value * 100 if kind in ("rate", "change", "points") else value


def french_cell(kind: Kind, value: Cell) -> str:
    """A cell as a French spreadsheet reads it typed by hand."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%d/%m/%Y %H:%M")
    if isinstance(value, date):
        return value.strftime("%m/%Y") if kind == "month" else value.strftime("%d/%m/%Y")
    if isinstance(value, bool):
        return no_formula(str(value))
    if isinstance(value, int) and kind not in ("rate", "change"):
        return str(value)
    if isinstance(value, int | Decimal):
        number = _in_points(kind, Decimal(value)).quantize(_HUNDREDTH, rounding=ROUND_HALF_UP)
        return str(number).replace(".", ",")
    return no_formula(value)


def french_header(column: Column) -> str:
    return no_formula(column.title + _UNITS.get(column.kind, ""))


def _csv_line(cells: Sequence[str]) -> str:
    quoted = []
    for cell in cells:
        if any(character in cell for character in ';"\r\n'):
            cell = '"' + cell.replace('"', '""') + '"'
        quoted.append(cell)
    return ";".join(quoted) + "\r\n"


def french_csv(table: Table, note_title: str = "Note") -> bytes:
    """`note_title`: the header of the note's column, in the reader's language."""
    note = [] if table.note is None else [no_formula(table.note)]
    header = [french_header(column) for column in table.columns]
    lines = [_csv_line(header + ([no_formula(note_title)] if note else []))]
    for row in table.rows:
        cells = [
            french_cell(column.kind, value)
            for column, value in zip(table.columns, row, strict=True)
        ]
        lines.append(_csv_line(cells + note))
    return (BOM + "".join(lines)).encode("utf-8")


def _excel_value(kind: Kind, value: Cell) -> object:
    if isinstance(value, str):
        return no_formula(value)
    if isinstance(value, datetime):
        # Excel has no time zones: the local time the report shows.
        return value.replace(tzinfo=None)
    if isinstance(value, Decimal) and kind == "points":
        return _in_points(kind, value)
    return value


def _sheet_name(name: str, taken: set[str]) -> str:
    base = name.translate(_SHEET_FORBIDDEN).strip()[:31] or "Sheet"
    candidate, number = base, 2
    while candidate.lower() in taken:
        suffix = f" {number}"
        candidate, number = base[: 31 - len(suffix)] + suffix, number + 1
    taken.add(candidate.lower())
    return candidate


def _shown_width(kind: Kind, value: Cell) -> int:
    if value is None:
        return 0
    if kind in ("date", "month"):
        return 10
    if kind == "datetime":
        return 16
    if isinstance(value, int | Decimal):
        return len(f"{value:,.2f}") + (2 if kind == "euros" else 0)
    return len(str(value))


def _write_note(sheet: Worksheet, note: str, width: int) -> None:
    """The note across the table's width (at least 8 columns, so that a long sentence
    shows), wrapped, on a line high enough for two lines."""
    sheet.append([no_formula(note)])
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=max(width, 8))
    sheet.cell(1, 1).font = Font(bold=True)
    sheet.cell(1, 1).alignment = Alignment(wrap_text=True, vertical="top")
    sheet.row_dimensions[1].height = 32


def _write_table(sheet: Worksheet, table: Table) -> None:
    if table.note is not None:
        _write_note(sheet, table.note, len(table.columns))
    head = 1 if table.note is None else 2
    sheet.append([no_formula(column.title) for column in table.columns])
    for row in table.rows:
        sheet.append(
            [
                _excel_value(column.kind, value)
                for column, value in zip(table.columns, row, strict=True)
            ]
        )
    bold = Font(bold=True)
    for cell in sheet[head]:
        cell.font = bold
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    lines = 1
    for index, column in enumerate(table.columns, start=1):
        letter = get_column_letter(index)
        number_format = EXCEL_FORMATS.get(column.kind)
        if number_format:
            for (cell,) in sheet.iter_rows(min_row=head + 1, min_col=index, max_col=index):
                cell.number_format = number_format
        widest = max(
            [
                min(len(column.title), _HEADER_WIDTH),
                *(_shown_width(column.kind, row[index - 1]) for row in table.rows),
            ]
        )
        width = min(widest + 3, _MAX_WIDTH)
        sheet.column_dimensions[letter].width = width
        lines = max(lines, -(-len(column.title) // (width - 2)))
    # A spreadsheet does not grow a line for wrapped text on its own: the header's is set.
    sheet.row_dimensions[head].height = _LINE_HEIGHT * lines
    if table.totals and table.rows:
        for cell in sheet[sheet.max_row]:
            cell.font = bold
    sheet.freeze_panes = f"B{head + 1}"
    _for_print(sheet, head)


def _for_print(sheet: Worksheet, header: int | None, *, pages_long: int = 0) -> None:
    """Printed as the department prints it: A4 landscape, one page wide and `pages_long`
    pages long (0: as many as it takes), the header line `header` repeated on every page
    (39 pages of cut columns before)."""
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = pages_long
    sheet.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    if header is not None:
        sheet.print_title_rows = f"{header}:{header}"


def _stacked_chart(sheet: Worksheet, table: Table, title: str) -> None:
    """A stacked column per row (a month), one series per column but the first and, when
    the table ends with a total, the last."""
    chart = BarChart()
    chart.type = "col"
    chart.grouping = "stacked"
    chart.overlap = 100
    chart.title = title
    chart.y_axis.title = "h"
    chart.y_axis.numFmt = "#,##0"
    chart.width, chart.height = 24, 12
    rows = len(table.rows) + 1
    data = Reference(
        sheet, min_col=2, max_col=max(2, len(table.columns) - 1), min_row=1, max_row=rows
    )
    chart.add_data(data, titles_from_data=True)
    chart.set_categories(Reference(sheet, min_col=1, min_row=2, max_row=rows))
    # Under the table, not beside it: one page wide would shrink the table to fit both.
    sheet.add_chart(chart, f"A{rows + 3}")


def workbook(
    tables: Sequence[Table],
    *,
    about: Sequence[tuple[str, Cell]] = (),
    about_name: str = "About",
    chart: str | None = None,
) -> bytes:
    """One sheet per table, in order; `about` (label, value) lines first on a sheet of their
    own; `chart`: the name of the table drawn as a stacked column chart on its sheet (its
    last column, a total, left out)."""
    book = Workbook()
    taken: set[str] = set()
    first: Worksheet | None = book.active
    if about:
        assert first is not None
        first.title = _sheet_name(about_name, taken)
        for label, value in about:
            first.append([no_formula(label), _excel_value("text", value)])
            if isinstance(value, date):
                first.cell(first.max_row, 2).number_format = (
                    EXCEL_FORMATS["datetime"]
                    if isinstance(value, datetime)
                    else EXCEL_FORMATS["date"]
                )
            first.cell(first.max_row, 1).font = Font(bold=True)
            for cell in first[first.max_row]:
                # A long note wraps in its wide column, instead of running over 3 pages.
                cell.alignment = Alignment(wrap_text=True, vertical="top")
            if isinstance(value, str) and len(value) > _ABOUT_WIDTH:
                lines = -(-len(value) // (_ABOUT_WIDTH - 10))
                first.row_dimensions[first.max_row].height = _LINE_HEIGHT * lines
        first.column_dimensions["A"].width = 28
        first.column_dimensions["B"].width = _ABOUT_WIDTH
        _for_print(first, None)
        first = None
    for table in tables:
        if first is not None:
            sheet, first = first, None
        else:
            sheet = book.create_sheet()
        sheet.title = _sheet_name(table.name, taken)
        _write_table(sheet, table)
        if table.name == chart and table.rows:
            _stacked_chart(sheet, table, table.title)
            if len(table.rows) <= _CHART_PAGE_ROWS:
                # A year's months and their chart on one page, not the chart on a second.
                _for_print(sheet, 1, pages_long=1)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
