"""The evaluation as tables of typed cells: what the French CSV, the Excel workbook and the
printed evaluation all show, built once.

A cell holds its value (a number as `int` or `Decimal`, a rate as a fraction, a day as a
`date`), never its text: each file writes it as its reader expects (`;` and a decimal comma
for a French spreadsheet, a typed cell with a number format in Excel). Headers and labels are
English source strings marked with `N_` and passed through `words` (the console's catalog),
so the files speak the reader's language with the page's words.

A table whose period before had no stay at all (`Yearly.previous_empty`) leaves its "before"
and change cells empty, never 0 or -100 %, and says why in its `note`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from hub.people.users import N_
from hub.reports.queries import EvaluationReport, Usage, UsageRow
from hub.reports.yearly import Yearly
from hub.rules.evaluation import change, occupied_positions
from hub.rules.model import Figures

#: `count`: a whole number; `number`: 2 decimals; `rate`: a fraction shown as a percentage;
#: `change`: a relative change, a signed percentage; `points`: a difference of two rates, in
#: percentage points; `euros`; `month`: a month's
#: first day, shown as the month; `datetime`: a local time.
Kind = Literal[
    "text",
    "count",
    "number",
    "hours",
    "rate",
    "change",
    "points",
    "euros",
    "date",
    "datetime",
    "month",
]
Cell = str | int | Decimal | date | datetime | None
Words = Callable[[str], str]
DayWords = Callable[[date], str]


@dataclass(frozen=True)
class Column:
    title: str
    kind: Kind


@dataclass(frozen=True)
class Table:
    #: Short: a sheet's name (at most 31 characters) and a file name's part.
    name: str
    #: A sentence: the table's caption.
    title: str
    columns: Sequence[Column]
    rows: Sequence[Sequence[Cell]]
    #: The last row sums up the others (bold in Excel, a totals row on the page).
    totals: bool = False
    #: Why some of its cells are empty, said wherever the table is read (the line above an
    #: Excel sheet's header, a last `Note` column of the CSV, a line under the page's table).
    note: str | None = None


#: The members who came most, on the usage page and in its workbook.
TOP_MEMBERS = 10
CATEGORY_LABELS = (
    ("independent", N_("Freelancers")),
    ("employee", N_("Employees")),
    ("mobile", N_("Mobile workers")),
    ("other", N_("Other")),
    ("unknown", N_("Unknown")),
)
_WEEKDAYS = (
    N_("Monday"),
    N_("Tuesday"),
    N_("Wednesday"),
    N_("Thursday"),
    N_("Friday"),
    N_("Saturday"),
    N_("Sunday"),
)


def scopes(
    report: EvaluationReport, names: Mapping[str, str], words: Words, network: bool
) -> list[tuple[str, Figures]]:
    """(label, figures) of every row of the evaluation: each site, the ZRR split, the total."""
    rows = [(names.get(site, site), figures) for site, figures in report.by_site.items()]
    if report.zrr is not None and report.non_zrr is not None:
        rows += [(words(N_("In a ZRR")), report.zrr), (words(N_("Outside a ZRR")), report.non_zrr)]
    # "Total" for a selection: with one site, "the chosen sites" would read as a second place.
    rows.append((words(N_("Network") if network else N_("Total")), report.total))
    return rows


def _figures_row(label: str, figures: Figures) -> list[Cell]:
    users = figures.users_by_category
    return [
        label,
        figures.sites,
        figures.positions.total,
        figures.positions.office,
        figures.positions.open_space,
        figures.users,
        *(getattr(users, key) for key, _title in CATEGORY_LABELS),
        figures.hours,
        figures.available_hours,
        figures.occupancy_rate,
        figures.pass_members,
        figures.cost_per_position,
    ]


def _figures_columns(words: Words) -> list[Column]:
    return [
        Column(words(N_("Scope")), "text"),
        Column(words(N_("Telecentres")), "count"),
        Column(words(N_("Positions")), "count"),
        Column(words(N_("Offices")), "count"),
        Column(words(N_("Open space")), "count"),
        Column(words(N_("Users")), "count"),
        *(Column(words(title), "count") for _key, title in CATEGORY_LABELS),
        Column(words(N_("Hours used")), "hours"),
        Column(words(N_("Available hours")), "hours"),
        Column(words(N_("Occupancy rate")), "rate"),
        Column(words(N_("Pass members")), "count"),
        Column(words(N_("Average yearly cost per position")), "euros"),
    ]


def figures_table(yearly: Yearly, names: Mapping[str, str], words: Words) -> Table:
    return Table(
        words(N_("Evaluation")),
        words(N_("The evaluation's figures by site, ZRR and in all")),
        _figures_columns(words),
        [
            _figures_row(label, figures)
            for label, figures in scopes(yearly.current, names, words, yearly.network)
        ],
        totals=True,
    )


def _rate_points(now: Decimal | None, before: Decimal | None) -> Decimal | None:
    return None if now is None or before is None else now - before


def period_words(first: date, last: date, words: Words) -> str:
    """'2025' for a calendar year, else its two days as the workbook writes days."""
    if (first.month, first.day, last.month, last.day) == (1, 1, 12, 31) and first.year == last.year:
        return str(first.year)
    return words(N_("%(first)s to %(last)s")) % {
        "first": numeric_day(first),
        "last": numeric_day(last),
    }


def numeric_day(day: date) -> str:
    """01/01/2025: a day as the workbook writes it."""
    return f"{day:%d/%m/%Y}"


def nothing_to_compare(yearly: Yearly, words: Words, day: DayWords = numeric_day) -> str | None:
    """What the page, the files and the PDF say instead of a comparison with a period without
    any stay: that the records begin after it (a funder read "no data for 2024" as "nobody
    came in 2024"), else that the period is empty. `day` writes the first day of the
    records (`periods.long_day` in the console: "1er janvier 2025")."""
    if not yearly.previous_empty:
        return None
    period = period_words(yearly.previous.first_day, yearly.previous.last_day, words)
    since = yearly.records_since
    if since is not None and since > yearly.previous.last_day:
        return words(N_("Data available since %(day)s: no comparison with %(period)s.")) % {
            "day": day(since),
            "period": period,
        }
    return words(N_("Nothing to compare with: no data for %(period)s.")) % {"period": period}


def _beside(now: Figures, before: Figures | None) -> list[Cell]:
    """A scope's figures, each after the period before's and followed by the change (in
    points for a rate); with nothing to compare with, those cells are empty."""
    cells: list[Cell] = []
    for name in ("users", "hours", "occupancy_rate", "pass_members"):
        value = getattr(now, name)
        if before is None:
            cells += [None, value, None]
            continue
        previous = getattr(before, name)
        moved = (_rate_points if name == "occupancy_rate" else change)(value, previous)
        cells += [previous, value, moved]
    return cells


def comparison_table(
    yearly: Yearly, names: Mapping[str, str], words: Words, day: DayWords = numeric_day
) -> Table:
    before = scopes(yearly.previous, names, words, yearly.network)
    now = scopes(yearly.current, names, words, yearly.network)
    rows: list[list[Cell]] = [
        [label, *_beside(figures, None if yearly.previous_empty else previous)]
        for (label, figures), (_label, previous) in zip(now, before, strict=True)
    ]
    return Table(
        words(N_("Comparison")),
        words(N_("Compared with the previous period")),
        [
            Column(words(N_("Scope")), "text"),
            Column(words(N_("Users before")), "count"),
            Column(words(N_("Users")), "count"),
            Column(words(N_("Change in users")), "change"),
            Column(words(N_("Hours before")), "hours"),
            Column(words(N_("Hours used")), "hours"),
            Column(words(N_("Change in hours")), "change"),
            Column(words(N_("Occupancy before")), "rate"),
            Column(words(N_("Occupancy rate")), "rate"),
            Column(words(N_("Change in occupancy (points)")), "points"),
            Column(words(N_("Pass members before")), "count"),
            Column(words(N_("Pass members")), "count"),
            Column(words(N_("Change in Pass members")), "change"),
        ],
        rows,
        totals=True,
        note=nothing_to_compare(yearly, words, day),
    )


def subsidy_table(yearly: Yearly, names: Mapping[str, str], words: Words) -> Table:
    subsidy = yearly.subsidy
    rows: list[list[Cell]] = [
        [
            names.get(line.site, line.site),
            words(N_("yes") if line.zrr else N_("no")),
            line.positions,
            occupied_positions(yearly.current.by_site[line.site]),
            line.counted,
            line.rate_eur,
            line.amount_eur,
        ]
        for line in subsidy.lines
    ]
    for label, zrr, amount in (
        (N_("In a ZRR"), True, subsidy.zrr_eur),
        (N_("Outside a ZRR"), False, subsidy.non_zrr_eur),
    ):
        lines = [line for line in subsidy.lines if line.zrr == zrr]
        rows.append(
            [
                words(label),
                words(N_("yes") if zrr else N_("no")),
                sum(line.positions for line in lines),
                sum((line.occupied for line in lines), Decimal(0)),
                subsidy.counted(zrr),
                None,
                amount,
            ]
        )
    rows.append(
        [
            words(N_("Total")),
            None,
            sum(line.positions for line in subsidy.lines),
            sum((line.occupied for line in subsidy.lines), Decimal(0)),
            subsidy.counted(True) + subsidy.counted(False),
            None,
            subsidy.total_eur,
        ]
    )
    return Table(
        words(N_("Subsidy estimate")),
        words(N_("FNADT subsidy estimate (occupied positions × rate)")),
        [
            Column(words(N_("Site")), "text"),
            Column(words(N_("ZRR")), "text"),
            Column(words(N_("Positions")), "count"),
            Column(words(N_("Occupied positions (full-time equivalent)")), "number"),
            Column(words(N_("Occupied positions counted")), "count"),
            Column(words(N_("Rate per position")), "euros"),
            Column(words(N_("Estimated amount")), "euros"),
        ],
        rows,
        totals=True,
    )


def _month_start(key: str) -> date:
    return date(int(key[:4]), int(key[5:]), 1)


def hours_by_month_table(yearly: Yearly, names: Mapping[str, str], words: Words) -> Table:
    series = yearly.patterns.hours_by_month
    sites = list(series)
    rows: list[list[Cell]] = []
    for index, key in enumerate(yearly.patterns.months):
        values = [series[site][index] for site in sites]
        rows.append([_month_start(key), *values, yearly.patterns.month_totals[index]])
    return Table(
        words(N_("Hours by month")),
        words(N_("Hours used by month and site")),
        [
            Column(words(N_("Month")), "month"),
            *(Column(names.get(site, site), "hours") for site in sites),
            Column(words(N_("Total")), "hours"),
        ],
        rows,
    )


def heat_map_table(yearly: Yearly, words: Words) -> Table:
    hours = yearly.patterns.hours
    return Table(
        words(N_("Weekday and hour")),
        words(N_("Share of the positions taken, by weekday and hour of the day")),
        [
            Column(words(N_("Day")), "text"),
            *(Column(f"{hour:02d}h", "rate") for hour in hours),
        ],
        [
            [words(day), *values]
            for day, values in zip(_WEEKDAYS, yearly.patterns.heat, strict=True)
        ],
    )


def day_profile_table(yearly: Yearly, names: Mapping[str, str], words: Words) -> Table:
    profile = yearly.patterns.day_profile
    sites = list(profile)
    return Table(
        words(N_("Average day")),
        words(N_("Fill rate over an average open day, by site")),
        [
            Column(words(N_("Hour")), "text"),
            *(Column(names.get(site, site), "rate") for site in sites),
        ],
        [
            [f"{hour:02d}h", *(profile[site][index] for site in sites)]
            for index, hour in enumerate(yearly.patterns.hours)
        ],
    )


def categories_table(yearly: Yearly, words: Words, day: DayWords = numeric_day) -> Table:
    now = yearly.current.total.users_by_category
    before = yearly.previous.total.users_by_category
    empty = yearly.previous_empty
    rows: list[list[Cell]] = [
        [words(title), getattr(now, key), None if empty else getattr(before, key)]
        for key, title in CATEGORY_LABELS
    ]
    rows.append(
        [
            words(N_("Total")),
            yearly.current.total.users,
            None if empty else yearly.previous.total.users,
        ]
    )
    return Table(
        words(N_("Users by category")),
        words(N_("Users by category")),
        [
            Column(words(N_("Category")), "text"),
            Column(words(N_("Users")), "count"),
            Column(words(N_("Users before")), "count"),
        ],
        rows,
        totals=True,
        note=nothing_to_compare(yearly, words, day),
    )


def pass_members_table(yearly: Yearly, words: Words) -> Table:
    patterns = yearly.patterns
    return Table(
        words(N_("Pass members")),
        words(N_("Pass members by month")),
        [Column(words(N_("Month")), "month"), Column(words(N_("Pass members")), "count")],
        [
            [_month_start(key), count]
            for key, count in zip(patterns.months, patterns.pass_members, strict=True)
        ],
    )


def evaluation_tables(
    yearly: Yearly, names: Mapping[str, str], words: Words, day: DayWords = numeric_day
) -> dict[str, Table]:
    """Every table of the evaluation by a stable key (the page's anchors and file names)."""
    return {
        "figures": figures_table(yearly, names, words),
        "comparison": comparison_table(yearly, names, words, day),
        "subsidy": subsidy_table(yearly, names, words),
        "hours-by-month": hours_by_month_table(yearly, names, words),
        "weekday-hour": heat_map_table(yearly, words),
        "average-day": day_profile_table(yearly, names, words),
        "categories": categories_table(yearly, words, day),
        "pass-members": pass_members_table(yearly, words),
    }


def _usage_label(by: str, key: str | None, names: Mapping[str, str], words: Words) -> Cell:
    if by == "month" and key is not None:
        return _month_start(key)
    if by == "category":
        return words(dict(CATEGORY_LABELS).get(key or "unknown", N_("Unknown")))
    if key is None:
        return words(N_("pseudonymised"))
    return names.get(key, key)


def usage_table(result: Usage, names: Mapping[str, str], words: Words) -> Table:
    """Usage by member (name and id), site, month or category, and its total; `names`: the
    members' or the sites' names by id."""
    first: Column = {
        "member": Column(words(N_("Member")), "text"),
        "site": Column(words(N_("Site")), "text"),
        "month": Column(words(N_("Month")), "month"),
        "category": Column(words(N_("Category")), "text"),
    }[result.by]
    extra = [Column(words(N_("Member number")), "text")] if result.by == "member" else []
    rows: list[list[Cell]] = []
    for row in result.rows:
        label = _usage_label(result.by, row.key, names, words)
        rows.append([label, *([row.key] if extra else []), row.sessions, row.hours])
    total: list[Cell] = [words(N_("Total")), *([None] if extra else [])]
    rows.append([*total, sum(row.sessions for row in result.rows), result.total_hours])
    return Table(
        words(N_("Usage")),
        words(N_("Usage")),
        [
            first,
            *extra,
            Column(words(N_("Sessions")), "count"),
            Column(words(N_("Hours")), "hours"),
        ],
        rows,
        totals=True,
    )


def top_rows(rows: Sequence[UsageRow], limit: int = TOP_MEMBERS) -> list[UsageRow]:
    """The members with the most hours (then sessions), pseudonymised stays left out."""
    known = [row for row in rows if row.key is not None]
    return sorted(known, key=lambda row: (-row.hours, -row.sessions, row.key or ""))[:limit]


def top_members_table(result: Usage, names: Mapping[str, str], words: Words) -> Table:
    return Table(
        words(N_("Top members")),
        words(N_("The members who came most")),
        [
            Column(words(N_("Member")), "text"),
            Column(words(N_("Member number")), "text"),
            Column(words(N_("Sessions")), "count"),
            Column(words(N_("Hours")), "hours"),
        ],
        [
            [names.get(row.key or "", row.key), row.key, row.sessions, row.hours]
            for row in top_rows(result.rows)
        ],
    )
