"""A month's invoice lines as a table (`hub.reports.tables.Table`) for people: the billing
page's "CSV for Excel", with the page's words (members' and sites' names, the member number,
the rates as the page names them), hours and euros as numbers. A capped line's amount at
the hourly rate is a column of its own: the page's "plafonné (18,00 € au tarif horaire)".
The API's CSV (`hub.api.reports.billing_csv`) stays the programs' one, with ids and English
codes.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal

from hub.people.users import N_
from hub.reports.invoicing import BillLine, MonthBilling
from hub.reports.tables import Cell, Column, Table, Words

#: A line's rate set as the billing page and its file name it.
RATE_WORDS = {
    "pass": N_("Pass"),
    "public": N_("public"),
    "free": N_("free"),
    "mixed": N_("Pass and public"),
}


def _month(month: str | None) -> date | None:
    return None if month is None else date(int(month[:4]), int(month[5:7]), 1)


def _row(line: BillLine, sites: Mapping[str, str], words: Words, closed: bool) -> list[Cell]:
    rate = RATE_WORDS.get(line.rate)
    note = line.note
    row: list[Cell] = [
        line.member_name or line.member_id,
        line.member_id,
        sites.get(line.site, line.site),
        _month(line.corrects),
        line.hours,
        line.free_hours,
        line.billed_hours,
        line.rate if rate is None else words(rate),
        line.hourly_eur,
        None if note is None else note.uncapped_eur,
        line.amount_eur,
    ]
    return [*row, line.invoice] if closed else row


def billing_table(result: MonthBilling, sites: Mapping[str, str], words: Words) -> Table:
    """Every line of the month (members by name, then site), and the month's total last;
    `sites`: the sites' names by id. A closed month's lines name their invoice."""
    columns = [
        Column(words(N_("Member")), "text"),
        Column(words(N_("Member number")), "text"),
        Column(words(N_("Site")), "text"),
        Column(words(N_("Adjustment of")), "month"),
        Column(words(N_("Hours")), "hours"),
        Column(words(N_("Free hours")), "hours"),
        Column(words(N_("Billed hours")), "hours"),
        Column(words(N_("Rate")), "text"),
        Column(words(N_("Hourly rate")), "euros"),
        Column(words(N_("At the hourly rate, before caps")), "euros"),
        Column(words(N_("Amount")), "euros"),
    ]
    if result.closed:
        columns.append(Column(words(N_("Invoice")), "text"))
    order = {total.member_id: index for index, total in enumerate(result.members)}
    lines = sorted(result.lines, key=lambda line: (order[line.member_id], line.site, line.month))
    rows = [_row(line, sites, words, result.closed) for line in lines]
    total: list[Cell] = [
        words(N_("Total of the month")),
        None,
        None,
        None,
        sum((line.hours for line in lines), Decimal(0)),
        sum((line.free_hours for line in lines), Decimal(0)),
        sum((line.billed_hours for line in lines), Decimal(0)),
        None,
        None,
        None,
        result.total_eur,
    ]
    return Table(
        words(N_("Billing")),
        words(N_("Invoice lines")),
        columns,
        [*rows, [*total, None] if result.closed else total],
        totals=True,
    )
