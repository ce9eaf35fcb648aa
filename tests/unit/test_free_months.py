"""The free months a member's page shows for their Pass (`hub.rules.billing`): the same days
`rate_kind` calls free, counted as a member counts months."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.rules.billing import free_months_left, last_free_day, rate_kind
from hub.rules.model import Member

SINCE = date(2026, 9, 15)


@pytest.mark.parametrize(
    ("until", "today", "left", "last"),
    [
        (None, date(2026, 9, 15), 6, date(2027, 3, 14)),  # the first day: all six
        (None, date(2026, 12, 7), 4, date(2027, 3, 14)),  # 3 months and a week: 4 started
        (None, date(2027, 3, 14), 1, date(2027, 3, 14)),  # the last free day
        (None, date(2027, 3, 15), 0, date(2027, 3, 14)),  # over
        (None, date(2026, 8, 1), 6, date(2027, 3, 14)),  # before the Pass: all six ahead
        (date(2026, 10, 31), date(2026, 10, 1), 1, date(2026, 10, 31)),  # the Pass ends first
    ],
)
def test_free_months_left(until: date | None, today: date, left: int, last: date) -> None:
    assert last_free_day(SINCE, until) == last
    assert free_months_left(SINCE, until, today) == left


@given(
    since=st.dates(date(2020, 1, 1), date(2030, 12, 31)),
    offset=st.integers(0, 400),
)
def test_the_last_free_day_is_the_last_day_billing_calls_free(since: date, offset: int) -> None:
    member = Member("M1", pass_since=since)
    last = last_free_day(since, None)
    assert rate_kind(member, last) == "free"
    assert rate_kind(member, last + timedelta(days=1)) == "pass"
    today = since + timedelta(days=offset)
    assert (free_months_left(since, None, today) > 0) == (today <= last)
