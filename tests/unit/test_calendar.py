"""Opening hours, closing times and available hours (RULES.md, Opening hours and availability)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from hub.rules.calendar import (
    available_hours,
    closing_time,
    is_public_holiday,
    open_duration,
    opening_ranges,
)
from hub.rules.model import Positions, SiteRules, weekly_opening

PARIS = ZoneInfo("Europe/Paris")

MURAT = SiteRules(
    "murat",
    opening=weekly_opening(
        {
            "mon": ["08:30-12:00", "13:30-17:00"],
            "tue": ["08:30-17:00"],
            "wed": ["08:30-12:00", ("13:30", "17:00")],
        }
    ),
    closed=frozenset({date(2026, 12, 23)}),
    positions=Positions(office=3, open_space=6),
)
# Open on Sundays, including the two DST change days of 2026 (both Sundays).
NIGHT_OWL = SiteRules("night-owl", opening=weekly_opening({"sun": ["00:00-06:00", "08:30-17:00"]}))


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 11, 11), True),  # Armistice
        (date(2026, 7, 14), True),
        (date(2026, 5, 14), True),  # Ascension, a moving feast
        (date(2026, 4, 6), True),  # Easter Monday
        (date(2026, 11, 12), False),
        (date(2026, 12, 26), False),  # only a holiday in Alsace-Moselle
    ],
)
def test_french_public_holidays(day: date, expected: bool) -> None:
    assert is_public_holiday(day) is expected


@pytest.mark.parametrize(
    ("site", "day", "expected"),
    [
        (MURAT, date(2026, 2, 2), ((time(8, 30), time(12)), (time(13, 30), time(17)))),
        (MURAT, date(2026, 2, 3), ((time(8, 30), time(17)),)),
        (MURAT, date(2026, 2, 5), ()),  # Thursday is not listed
        (MURAT, date(2026, 11, 11), ()),  # a Wednesday, but a public holiday
        (MURAT, date(2026, 4, 6), ()),  # a Monday, but Easter Monday
        (MURAT, date(2026, 12, 23), ()),  # a Wednesday, but an extra closed day
        (
            SiteRules("x", opening=MURAT.opening, open_on_public_holidays=True),
            date(2026, 11, 11),
            ((time(8, 30), time(12)), (time(13, 30), time(17))),
        ),
    ],
)
def test_opening_ranges(site: SiteRules, day: date, expected: tuple[object, ...]) -> None:
    assert opening_ranges(site, day) == expected


@pytest.mark.parametrize(
    ("day", "expected_utc"),
    [
        (date(2026, 2, 2), datetime(2026, 2, 2, 16, 0, tzinfo=UTC)),  # CET, UTC+1
        (date(2026, 7, 6), datetime(2026, 7, 6, 15, 0, tzinfo=UTC)),  # CEST, UTC+2
        (date(2026, 2, 3), datetime(2026, 2, 3, 16, 0, tzinfo=UTC)),
        (date(2026, 2, 5), None),
        (date(2026, 11, 11), None),
    ],
)
def test_closing_time_is_the_end_of_the_last_range(
    day: date, expected_utc: datetime | None
) -> None:
    assert closing_time(MURAT, day) == expected_utc


@pytest.mark.parametrize(
    ("site", "day", "hours"),
    [
        (MURAT, date(2026, 2, 2), 7),  # 3.5 h + 3.5 h
        (MURAT, date(2026, 2, 3), 8.5),
        (MURAT, date(2026, 2, 5), 0),
        (NIGHT_OWL, date(2026, 3, 22), 6 + 8.5),  # an ordinary Sunday
        (NIGHT_OWL, date(2026, 3, 29), 5 + 8.5),  # 02:00 -> 03:00: the night range loses 1 h
        (NIGHT_OWL, date(2026, 10, 25), 7 + 8.5),  # 03:00 -> 02:00: the night range gains 1 h
    ],
)
def test_open_duration_is_real_elapsed_time(site: SiteRules, day: date, hours: float) -> None:
    assert open_duration(site, day) == timedelta(hours=hours)


@pytest.mark.parametrize(
    ("site", "first", "last", "expected"),
    [
        # Mon 7 + Tue 8.5 + Wed 7 = 22.5 h, × 9 positions.
        (MURAT, date(2026, 2, 2), date(2026, 2, 8), "202.5"),
        # Both ends included: a single Tuesday.
        (MURAT, date(2026, 2, 3), date(2026, 2, 3), "76.5"),
        # Mon 9 + Tue 10; Wed 11 November is a public holiday: 15.5 h × 9.
        (MURAT, date(2026, 11, 9), date(2026, 11, 15), "139.5"),
        # Mon 21 + Tue 22; Wed 23 December is an extra closed day: 15.5 h × 9.
        (MURAT, date(2026, 12, 21), date(2026, 12, 23), "139.5"),
        (MURAT, date(2026, 2, 8), date(2026, 2, 2), "0"),  # an empty period
        (SiteRules("rooms-only", opening=MURAT.opening), date(2026, 2, 2), date(2026, 2, 8), "0"),
        (
            SiteRules("night", opening=NIGHT_OWL.opening, positions=Positions(open_space=2)),
            date(2026, 3, 29),
            date(2026, 3, 29),
            "27",  # (5 + 8.5) × 2
        ),
    ],
)
def test_available_hours(site: SiteRules, first: date, last: date, expected: str) -> None:
    assert available_hours(site, first, last) == Decimal(expected)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"opening": weekly_opening({"mon": [("12:00", "08:00")]})}, "empty"),
        ({"opening": weekly_opening({"mon": ["08:00-12:00", "11:00-14:00"]})}, "overlap"),
        ({"opening": weekly_opening({"monday": ["08:00-12:00"]})}, "not one of"),
        ({"timezone": "Europe/Murat"}, "timezone"),
        ({"rounding_min": 0}, "rounding_min"),
    ],
)
def test_bad_site_rules_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SiteRules("bad", **kwargs)  # type: ignore[arg-type]


def test_local_times_are_in_the_site_zone() -> None:
    reunion = SiteRules("st-denis", timezone="Indian/Reunion", opening=MURAT.opening)
    assert closing_time(reunion, date(2026, 2, 2)) == datetime(2026, 2, 2, 13, 0, tzinfo=UTC)
    assert closing_time(MURAT, date(2026, 2, 2)) == datetime(2026, 2, 2, 17, 0, tzinfo=PARIS)
