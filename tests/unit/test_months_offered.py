"""The billing pages' month picker: six years of months, newest first, and the month asked
for even when it is older."""

from __future__ import annotations

from datetime import date

from hub.console.periods import YEARS_OFFERED, months_offered


def test_this_month_and_the_years_before_it_newest_first() -> None:
    months = months_offered(date(2026, 3, 15), "2026-03")

    assert len(months) == 12 * YEARS_OFFERED
    assert months[:4] == ["2026-03", "2026-02", "2026-01", "2025-12"]
    assert months[-1] == "2020-04"
    assert months == sorted(set(months), reverse=True)


def test_an_older_month_asked_for_is_offered_in_its_place() -> None:
    months = months_offered(date(2026, 12, 1), "2019-07")

    assert months[0] == "2026-12" and months[-2:] == ["2021-01", "2019-07"]
    assert len(months) == 12 * YEARS_OFFERED + 1
