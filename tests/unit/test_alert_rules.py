"""`hub.rules.alerts`: incidents opened, reminded and ended; quiet hours; retry delays."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.rules.alerts import (
    Key,
    Standing,
    in_quiet_hours,
    offline_since,
    plan,
    release_at,
    retry_delay,
)

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 12, 8, 2, 12, tzinfo=UTC)
HOUR = timedelta(hours=1)
FORCED = Key("murat", "door_forced", "main")
OFFLINE = Key("mauriac", "door_offline", "mauriac-door")


def test_a_new_condition_opens_a_standing_one_is_reminded_hourly_a_gone_one_ends() -> None:
    result = plan(
        {FORCED: NOW, OFFLINE: NOW - 2 * HOUR},
        {OFFLINE: Standing(7, NOW - HOUR), Key("ydes", "door_forced", "main"): Standing(8, NOW)},
        now=NOW,
        remind_every=HOUR,
    )
    assert (result.opened, result.reminded, result.resolved) == ([FORCED], [7], [8])


def test_no_reminder_before_the_hour() -> None:
    result = plan({FORCED: NOW}, {FORCED: Standing(1, NOW - HOUR + timedelta(seconds=1))},
                  now=NOW, remind_every=HOUR)  # fmt: skip
    assert (result.opened, result.reminded, result.resolved) == ([], [], [])


@pytest.mark.parametrize(
    ("local", "start", "end", "quiet"),
    [
        (time(3, 0), time(22, 0), time(7, 0), True),
        (time(22, 0), time(22, 0), time(7, 0), True),
        (time(7, 0), time(22, 0), time(7, 0), False),
        (time(12, 0), time(22, 0), time(7, 0), False),
        (time(13, 0), time(12, 0), time(14, 0), True),
        (time(14, 0), time(12, 0), time(14, 0), False),
        (time(3, 0), time(8, 0), time(8, 0), False),
    ],
)
def test_quiet_hours(local: time, start: time, end: time, quiet: bool) -> None:
    assert in_quiet_hours(local, start, end) is quiet


def test_a_message_at_night_waits_for_the_morning_in_the_sites_time() -> None:
    # 03:12 in Paris (UTC+1): quiet 22:00–07:30 → 07:30 Paris, 06:30 UTC, the same day.
    assert release_at(NOW, PARIS, time(22, 0), time(7, 30)) == datetime(
        2026, 12, 8, 6, 30, tzinfo=UTC
    )
    # 23:00 in Paris → 07:30 the next day.
    evening = datetime(2026, 12, 8, 22, 0, tzinfo=UTC)
    assert release_at(evening, PARIS, time(22, 0), time(7, 30)) == datetime(
        2026, 12, 9, 6, 30, tzinfo=UTC
    )
    assert release_at(NOW, PARIS, None, None) == NOW
    assert release_at(NOW, PARIS, time(8, 0), time(18, 0)) == NOW


@given(
    st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2028, 1, 1)),
    st.times(),
    st.times(),
)
def test_a_released_message_never_leaves_earlier_nor_inside_quiet_hours(
    naive: datetime, start: time, end: time
) -> None:
    now = naive.replace(tzinfo=UTC)
    start, end = start.replace(microsecond=0), end.replace(microsecond=0)
    release = release_at(now, PARIS, start, end)
    assert release >= now
    assert release - now <= timedelta(hours=25)
    local = release.astimezone(PARIS).time()
    # Outside the window, or exactly its end (a DST jump may shift that instant by an hour).
    assert not in_quiet_hours(local, start, end) or release != now


@given(st.integers(min_value=1, max_value=1000))
def test_retries_wait_longer_each_time_and_never_past_the_cap(attempts: int) -> None:
    delay = retry_delay(attempts, first_s=30, max_s=3600)
    assert timedelta(seconds=30) <= delay <= timedelta(seconds=3600)
    assert retry_delay(attempts + 1, first_s=30, max_s=3600) >= delay


def test_retry_delays_double() -> None:
    assert [retry_delay(n, first_s=30, max_s=200).total_seconds() for n in (1, 2, 3, 4)] == [
        30, 60, 120, 200,
    ]  # fmt: skip


def test_a_door_is_offline_for_alerts_only_past_the_limit() -> None:
    limit = timedelta(minutes=15)
    assert offline_since("offline", NOW - limit, NOW, limit) == NOW - limit
    assert offline_since("offline", NOW - limit + timedelta(seconds=1), NOW, limit) is None
    assert offline_since("online", NOW - 10 * limit, NOW, limit) is None
    assert offline_since("offline", None, NOW, limit) is None
