"""What the department's evaluation adds to the figures, worked out by hand: the period it is
compared with, the change, occupied positions and the FNADT estimate, the charts' series,
and cells written for a French spreadsheet."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import load_workbook

from hub.reports.spreadsheets import french_cell, french_csv, workbook
from hub.reports.tables import Column, Table, period_words
from hub.reports.yearly import no_stay
from hub.rules.evaluation import (
    change,
    evaluate,
    occupied_positions,
    previous_period,
    subsidy_estimate,
)
from hub.rules.model import Positions, Roster, Session, SiteRules, weekly_opening
from hub.rules.months import Tallies, tally
from hub.rules.patterns import patterns

D = Decimal


@pytest.mark.parametrize(
    ("first", "last", "before"),
    [
        # A calendar year: the year before.
        (date(2025, 1, 1), date(2025, 12, 31), (date(2024, 1, 1), date(2024, 12, 31))),
        # The year to date: the same days a year earlier (not the 340 days before it).
        (date(2026, 1, 1), date(2026, 12, 7), (date(2025, 1, 1), date(2025, 12, 7))),
        (
            date(2024, 1, 1),
            date(2024, 2, 29) - timedelta(days=1),
            (date(2023, 1, 1), date(2023, 2, 28)),
        ),
        # A quarter: the quarter before; a month: the month before.
        (date(2026, 4, 1), date(2026, 6, 30), (date(2026, 1, 1), date(2026, 3, 31))),
        (date(2026, 3, 1), date(2026, 3, 31), (date(2026, 2, 1), date(2026, 2, 28))),
        # Any other period: as many days just before.
        (date(2026, 3, 5), date(2026, 3, 11), (date(2026, 2, 26), date(2026, 3, 4))),
    ],
)
def test_the_period_compared_with(first: date, last: date, before: tuple[date, date]) -> None:
    assert previous_period(first, last) == before


@given(st.dates(date(2001, 1, 1), date(2099, 1, 1)), st.integers(0, 800))
def test_the_previous_period_ends_the_day_before_or_a_year_before(start: date, days: int) -> None:
    first, last = start, start + timedelta(days=days)
    before_first, before_last = previous_period(first, last)
    assert before_first <= before_last < first
    year_to_date = (first.month, first.day) == (1, 1) and last.year == first.year
    if not year_to_date:
        assert before_last == first - timedelta(days=1)


def test_the_change() -> None:
    assert change(D("41237"), D("35271.3")) == D("0.1691")
    assert change(748, 746) == D("0.0027")
    assert change(5, 10) == D("-0.5000")
    assert change(5, 0) is None and change(None, 3) is None


MURAT = SiteRules(
    "murat",
    opening=weekly_opening({"mon": ["08:00-12:00"], "tue": ["08:00-12:00"]}),
    positions=Positions(office=1, open_space=4),
    zrr=True,
)
YDES = SiteRules(
    "ydes",
    opening=weekly_opening({"mon": ["09:00-11:00"]}),
    positions=Positions(office=2),
)
EMPTY = SiteRules("salle", opening=weekly_opening({"mon": ["08:00-12:00"]}))
# Week of Mon 2 - Sun 8 February 2026 (Paris is UTC+1): murat open 8 h × 5 positions = 40 h,
# ydes 2 h × 2 positions = 4 h.
FIRST, LAST = date(2026, 2, 2), date(2026, 2, 8)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 2, day, hour, minute, tzinfo=UTC)


STAYS = [
    # Murat, Monday 08:30-11:30 Paris: 3 h; Tuesday 08:00-12:00 Paris, twice: 8 h.
    Session("M1", "murat", at(2, 7, 30), at(2, 10, 30)),
    Session("M2", "murat", at(3, 7), at(3, 11)),
    Session("M3", "murat", at(3, 7), at(3, 11)),
    # Ydes, Monday 09:00-14:00 Paris: 5 h (more than its 4 open position-hours).
    Session("M1", "ydes", at(2, 8), at(2, 13)),
    # Still in: a user, no hours.
    Session("M4", "ydes", at(2, 9)),
]
MEMBERS = Roster(
    category_of={"M1": "independent", "M2": "employee", "M3": "mobile", "M4": "other"},
    passes={"M1": (date(2025, 1, 1), None), "M3": (date(2026, 2, 5), date(2026, 3, 31))},
)


def summed_up(sites: list[SiteRules], stays: list[Session], first: date, last: date) -> Tallies:
    """The stays summed up by site and month, as the reports give them to the rules."""
    return tally({site.id: site for site in sites}, stays, first, last)


def test_occupied_positions_and_the_subsidy_estimate() -> None:
    result = evaluate(
        [MURAT, YDES, EMPTY], MEMBERS, summed_up([MURAT, YDES], STAYS, FIRST, LAST), FIRST, LAST
    )
    # Murat: 11 h of 40 → 27.5 % of 5 positions = 1.375 → 1.4 occupied; counted 1.
    assert occupied_positions(result.by_site["murat"]) == D("1.4")
    # Ydes: 5 h of 4 → capped at its 2 positions.
    assert occupied_positions(result.by_site["ydes"]) == D("2.0")
    assert occupied_positions(result.by_site["salle"]) == D(0)
    estimate = subsidy_estimate([MURAT, YDES, EMPTY], result.by_site)
    assert [
        (line.site, line.occupied, line.counted, line.amount_eur) for line in estimate.lines
    ] == [
        ("murat", D("1.4"), 1, D(2000)),
        ("ydes", D("2.0"), 2, D(3000)),
    ]
    assert (estimate.zrr_eur, estimate.non_zrr_eur, estimate.total_eur) == (
        D(2000),
        D(3000),
        D(5000),
    )
    assert estimate.counted(True) == 1 and estimate.counted(False) == 2


def test_the_charts_series() -> None:
    sites = [MURAT, YDES]
    series = patterns(sites, MEMBERS, summed_up(sites, STAYS, FIRST, LAST), FIRST, LAST)
    assert series.months == ["2026-02"]
    assert series.hours_by_month == {"murat": [D(11)], "ydes": [D(5)]}
    assert series.month_totals == [D(16)]
    assert series.hours == list(range(7, 21))
    # Monday 09:00-10:00 Paris: M1 at Murat (1 h) and M1 at Ydes (1 h) over one Monday
    # × 7 positions; Tuesday 08:00-09:00: two at Murat.
    monday, tuesday = series.heat[0], series.heat[1]
    nine, eight = series.hours.index(9), series.hours.index(8)
    assert monday[nine] == (D(2) / 7).quantize(D("0.0001"))
    assert tuesday[eight] == (D(2) / 7).quantize(D("0.0001"))
    assert monday[series.hours.index(13)] == (D(1) / 7).quantize(D("0.0001"))
    # Murat's average open day (Monday and Tuesday: 2 days × 5 positions): at 08:00 Monday's
    # half hour and Tuesday's two hours make 2.5 h of 10.
    assert series.day_profile["murat"][eight] == D("0.25")
    # Ydes is open on Mondays only: one day × 2 positions; 13:00-14:00 is past closing.
    assert series.day_profile["ydes"][series.hours.index(13)] == D("0.5")
    # Pass members of February: M1, and M3 from the 5th.
    assert series.pass_members == [2]
    ydes_stays = [stay for stay in STAYS if stay.site == "ydes"]
    only_ydes = patterns(
        [YDES], MEMBERS, summed_up([YDES], ydes_stays, FIRST, LAST), FIRST, LAST, network=False
    )
    assert only_ydes.pass_members == [1]


def test_a_stay_across_the_change_of_time_counts_its_real_hours() -> None:
    # Sunday 29 March 2026, 01:30-03:30 Paris summer time... 00:30-01:30 UTC is 01:30 CET
    # to 03:30 CEST: one real hour, in the 01:00 slot (30 min) and the 03:00 slot (30 min).
    stay = Session(
        "M1",
        "murat",
        datetime(2026, 3, 29, 0, 30, tzinfo=UTC),
        datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
    )
    first, last = date(2026, 3, 23), date(2026, 3, 29)
    series = patterns([MURAT], MEMBERS, summed_up([MURAT], [stay], first, last), first, last)
    sunday = series.heat[6]
    assert series.hours_by_month == {"murat": [D(1)]}
    assert series.hours[0] == 1
    assert sunday[series.hours.index(1)] == (D("0.5") / 5).quantize(D("0.0001"))
    assert sunday[series.hours.index(3)] == (D("0.5") / 5).quantize(D("0.0001"))
    assert sunday[series.hours.index(2)] == 0


def test_cells_for_a_french_spreadsheet() -> None:
    assert french_cell("hours", D("43800.5")) == "43800,50"
    assert french_cell("rate", D("0.3542")) == "35,42"
    assert french_cell("change", D("-0.125")) == "-12,50"
    assert french_cell("euros", D("-2.5")) == "-2,50"
    assert french_cell("count", 214) == "214"
    assert french_cell("date", date(2026, 12, 31)) == "31/12/2026"
    assert french_cell("month", date(2026, 1, 1)) == "01/2026"
    assert french_cell("text", "=cmd|' /C calc'!A0") == "'=cmd|' /C calc'!A0"
    assert french_cell("text", None) == ""
    table = Table("t", "t", [Column("Site", "text"), Column("Taux", "rate")], [["A;B", D("0.5")]])
    assert french_csv(table) == '\ufeffSite;Taux (%)\r\n"A;B";50,00\r\n'.encode()


def test_nothing_before_is_no_stay_at_all() -> None:
    """A stay still open makes its member a user: its period has something to compare with."""
    still_in = evaluate([YDES], MEMBERS, summed_up([YDES], STAYS[-1:], FIRST, LAST), FIRST, LAST)
    assert still_in.total.users == 1 and still_in.total.hours == 0
    assert not no_stay(still_in.total)
    nothing = evaluate([MURAT], MEMBERS, summed_up([MURAT], [], FIRST, LAST), FIRST, LAST)
    assert no_stay(nothing.total)


def test_the_previous_period_in_words() -> None:
    def words(text: str) -> str:
        return text

    assert period_words(date(2023, 1, 1), date(2023, 12, 31), words) == "2023"
    assert period_words(date(2025, 1, 1), date(2025, 12, 7), words) == "01/01/2025 to 07/12/2025"


def test_a_tables_note_in_its_files() -> None:
    """The CSV keeps the table's columns and adds the note's; the sheet says it first."""
    columns = [Column("Site", "text"), Column("Before", "count"), Column("Now", "count")]
    table = Table("t", "t", columns, [["A", None, 3]], note="Nothing before.")
    assert french_csv(table, "Remarque") == (
        "\ufeffSite;Before;Now;Remarque\r\nA;;3;Nothing before.\r\n".encode()
    )
    sheet = load_workbook(io.BytesIO(workbook([table]))).active
    assert sheet is not None
    assert [list(row) for row in sheet.iter_rows(values_only=True)] == [
        ["Nothing before.", None, None, None, None, None, None, None],
        ["Site", "Before", "Now", None, None, None, None, None],
        ["A", None, 3, None, None, None, None, None],
    ]
    assert sheet.freeze_panes == "B3" and sheet.cell(2, 1).font.bold
