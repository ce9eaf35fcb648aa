"""Taps to sessions (RULES.md, Presence sessions), incremental recompute and occupancy."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.rules.model import Direction, Session, SiteRules, Tap, utc, weekly_opening
from hub.rules.presence import auto_close_at, present_at, sessions_from_taps

PARIS = ZoneInfo("Europe/Paris")
SITE = SiteRules(
    "murat",
    opening=weekly_opening(
        {
            "mon": ["08:30-12:00", "13:30-17:00"],
            "tue": ["08:30-17:00"],
            "wed": ["08:30-12:00", "13:30-17:00"],
            "sun": ["08:30-17:00"],  # so that the DST change days (Sundays) are open days
        }
    ),
    closed=frozenset({date(2026, 2, 4)}),  # a Wednesday
)
LATER = datetime(2030, 1, 1, tzinfo=UTC)  # a `now` after every tap: nothing left open


def at(text: str) -> datetime:
    """A Paris wall-clock time: "2026-02-02 09:00" (2026-02-02 is a Monday)."""
    return datetime.fromisoformat(text).replace(tzinfo=PARIS)


def tap(event_id: str, when: str, direction: Direction = "toggle") -> Tap:
    return Tap(event_id, "m1", "murat", at(when), direction)


def closed(start: str, end: str) -> Session:
    return Session("m1", "murat", at(start), at(end), auto_closed=False)


def auto(start: str, end: str) -> Session:
    return Session("m1", "murat", at(start), at(end), auto_closed=True)


MON = "2026-02-02"
TUE = "2026-02-03"
THU = "2026-02-05"

CASES: list[tuple[str, list[Tap], list[Session]]] = [
    (
        "in then out",
        [tap("a", f"{MON} 09:00", "in"), tap("b", f"{MON} 11:00", "out")],
        [closed(f"{MON} 09:00", f"{MON} 11:00")],
    ),
    (
        "toggles pair up",
        [
            tap("a", f"{MON} 09:00"),
            tap("b", f"{MON} 11:00"),
            tap("c", f"{MON} 14:00"),
            tap("d", f"{MON} 16:00"),
        ],
        [closed(f"{MON} 09:00", f"{MON} 11:00"), closed(f"{MON} 14:00", f"{MON} 16:00")],
    ),
    (
        "taps are applied in ts order, not list order",
        [tap("b", f"{MON} 11:00", "out"), tap("a", f"{MON} 09:00", "in")],
        [closed(f"{MON} 09:00", f"{MON} 11:00")],
    ),
    (
        "a second tap 30 s after the first is a double tap",
        [tap("a", f"{MON} 09:00"), tap("b", f"{MON} 09:00:30"), tap("c", f"{MON} 11:00")],
        [closed(f"{MON} 09:00", f"{MON} 11:00")],
    ),
    (
        "a tap exactly 60 s later counts",
        [tap("a", f"{MON} 09:00:00"), tap("b", f"{MON} 09:01:00")],
        [closed(f"{MON} 09:00:00", f"{MON} 09:01:00")],
    ),
    (
        "debounce runs from the previous counted tap, not from an ignored one",
        [tap("a", f"{MON} 09:00:00"), tap("b", f"{MON} 09:00:50"), tap("c", f"{MON} 09:01:40")],
        [closed(f"{MON} 09:00:00", f"{MON} 09:01:40")],
    ),
    (
        "in while in and out while out are ignored",
        [
            tap("a", f"{MON} 08:00", "out"),
            tap("b", f"{MON} 09:00", "in"),
            tap("c", f"{MON} 10:00", "in"),
            tap("d", f"{MON} 11:00", "out"),
            tap("e", f"{MON} 11:30", "out"),
        ],
        [closed(f"{MON} 09:00", f"{MON} 11:00")],
    ),
    (
        "an ignored in still debounces the out 30 s later, so the session runs to closing",
        [
            tap("a", f"{MON} 09:00", "in"),
            tap("b", f"{MON} 10:00", "in"),
            tap("c", f"{MON} 10:00:30", "out"),
        ],
        [auto(f"{MON} 09:00", f"{MON} 17:00")],
    ),
    (
        "no out: auto-closed at the closing time of the start day",
        [tap("a", f"{MON} 09:00", "in")],
        [auto(f"{MON} 09:00", f"{MON} 17:00")],
    ),
    (
        "arriving during the lunch break: still the end of the day's last range",
        [tap("a", f"{MON} 12:30", "in")],
        [auto(f"{MON} 12:30", f"{MON} 17:00")],
    ),
    (
        "an out exactly at closing time is the member's own",
        [tap("a", f"{MON} 09:00", "in"), tap("b", f"{MON} 17:00:00", "out")],
        [closed(f"{MON} 09:00", f"{MON} 17:00")],
    ),
    (
        "a toggle exactly at closing time closes, it does not open a night session",
        [tap("a", f"{MON} 09:00"), tap("b", f"{MON} 17:00:00")],
        [closed(f"{MON} 09:00", f"{MON} 17:00")],
    ),
    (
        "a toggle one second after closing time starts a new session of max_session_h",
        [tap("a", f"{MON} 09:00"), tap("b", f"{MON} 17:00:01")],
        [auto(f"{MON} 09:00", f"{MON} 17:00"), auto(f"{MON} 17:00:01", f"{TUE} 05:00:01")],
    ),
    (
        "a later out never re-opens nor closes an auto-closed session",
        [tap("a", f"{MON} 09:00", "in"), tap("b", f"{MON} 18:00", "out")],
        [auto(f"{MON} 09:00", f"{MON} 17:00")],
    ),
    (
        "a session started after closing time, across midnight, closed by its member",
        [tap("a", f"{MON} 18:00", "in"), tap("b", f"{TUE} 01:00", "out")],
        [closed(f"{MON} 18:00", f"{TUE} 01:00")],
    ),
    (
        "a session started after closing time is auto-closed 12 h later, the next day",
        [tap("a", f"{MON} 18:00", "in"), tap("b", f"{TUE} 09:00", "in")],
        [auto(f"{MON} 18:00", f"{TUE} 06:00"), auto(f"{TUE} 09:00", f"{TUE} 17:00")],
    ),
    (
        "a day without opening hours: 12 h",
        [tap("a", f"{THU} 10:00", "in")],
        [auto(f"{THU} 10:00", f"{THU} 22:00")],
    ),
    (
        "an extra closed day: 12 h",
        [tap("a", "2026-02-04 10:00", "in")],
        [auto("2026-02-04 10:00", "2026-02-04 22:00")],
    ),
    (
        "a public holiday (Wed 11 November): 12 h",
        [tap("a", "2026-11-11 09:00", "in")],
        [auto("2026-11-11 09:00", "2026-11-11 21:00")],
    ),
    (
        "spring forward, open day: closing time is 17:00 local",
        [tap("a", "2026-03-29 08:00", "in")],
        [auto("2026-03-29 08:00", "2026-03-29 17:00")],
    ),
    (
        "spring forward, closed Saturday night: 12 h of real time is 13 h on the wall",
        [tap("a", "2026-03-28 22:00", "in")],
        [auto("2026-03-28 22:00", "2026-03-29 11:00")],
    ),
    (
        "fall back, closed Saturday night: 12 h of real time is 11 h on the wall",
        [tap("a", "2026-10-24 22:00", "in")],
        [auto("2026-10-24 22:00", "2026-10-25 09:00")],
    ),
    (
        "same ts: event_id order decides; the out is first and the in is a double tap",
        [tap("b", f"{MON} 09:00", "in"), tap("a", f"{MON} 09:00", "out")],
        [],
    ),
    (
        "same ts: event_id order decides; the in is first and the out is a double tap",
        [tap("a", f"{MON} 09:00", "in"), tap("b", f"{MON} 09:00", "out")],
        [auto(f"{MON} 09:00", f"{MON} 17:00")],
    ),
    (
        "a tap delivered twice (same event_id) counts once",
        [tap("a", f"{MON} 09:00"), tap("a", f"{MON} 09:00"), tap("b", f"{MON} 10:00")],
        [closed(f"{MON} 09:00", f"{MON} 10:00")],
    ),
    ("no taps", [], []),
]


@pytest.mark.parametrize(("taps", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_sessions_from_taps(taps: list[Tap], expected: list[Session]) -> None:
    assert sessions_from_taps(taps, SITE, now=LATER) == expected


def test_durations_across_dst_are_real_time() -> None:
    (night,) = sessions_from_taps([tap("a", "2026-10-24 22:00", "in")], SITE, now=LATER)
    assert night.duration == timedelta(hours=12)
    (day,) = sessions_from_taps([tap("a", "2026-03-29 08:00", "in")], SITE, now=LATER)
    assert day.duration == timedelta(hours=9)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (at(f"{MON} 12:00"), [Session("m1", "murat", at(f"{MON} 09:00"))]),
        (at(f"{MON} 16:59:59"), [Session("m1", "murat", at(f"{MON} 09:00"))]),
        (at(f"{MON} 17:00"), [auto(f"{MON} 09:00", f"{MON} 17:00")]),
    ],
)
def test_a_session_stays_open_until_its_auto_close_moment(
    now: datetime, expected: list[Session]
) -> None:
    assert sessions_from_taps([tap("a", f"{MON} 09:00", "in")], SITE, now=now) == expected


def test_custom_debounce_and_max_session() -> None:
    taps = [tap("a", f"{THU} 09:00"), tap("b", f"{THU} 09:01:30")]
    assert sessions_from_taps(taps, SITE, now=LATER, debounce_s=120, max_session_h=2) == [
        auto(f"{THU} 09:00", f"{THU} 11:00")
    ]


def test_taps_of_several_members_are_refused() -> None:
    other = Tap("z", "m2", "murat", at(f"{MON} 10:00"))
    with pytest.raises(ValueError, match="one member"):
        sessions_from_taps([tap("a", f"{MON} 09:00"), other], SITE, now=LATER)


def test_auto_close_at() -> None:
    assert auto_close_at(SITE, at(f"{MON} 07:00")) == at(f"{MON} 17:00")
    assert auto_close_at(SITE, at(f"{MON} 17:00")) == at(f"{TUE} 05:00")
    assert auto_close_at(SITE, at(f"{THU} 07:00"), max_session_h=3) == at(f"{THU} 10:00")


def test_present_at() -> None:
    sessions = [
        Session("m1", "murat", at(f"{MON} 09:00"), at(f"{MON} 11:00")),
        Session("m2", "murat", at(f"{MON} 10:00")),
        Session("m3", "aurillac", at(f"{MON} 10:00")),
    ]
    assert present_at(sessions, "murat", at(f"{MON} 08:59")) == frozenset()
    assert present_at(sessions, "murat", at(f"{MON} 09:00")) == {"m1"}
    assert present_at(sessions, "murat", at(f"{MON} 10:30")) == {"m1", "m2"}
    assert present_at(sessions, "murat", at(f"{MON} 11:00")) == {"m2"}


# --- Properties ---------------------------------------------------------------------------

# Gaps chosen around the debounce (60 s) and the day's closing and max session lengths.
GAPS_S = [0, 1, 30, 59, 60, 61, 600, 1800, 3600, 4 * 3600, 9 * 3600, 13 * 3600]
# 90 s before a Friday's closing time, so that taps land just before and after an auto-close;
# 13 h gaps then reach the closed Saturday and the DST Sunday.
DIRECTIONS: list[Direction] = ["in", "out", "toggle"]
START = at("2026-03-27 16:58:30")


@st.composite
def tap_lists(draw: st.DrawFn) -> list[Tap]:
    gaps = draw(st.lists(st.sampled_from(GAPS_S), min_size=0, max_size=14))
    directions = draw(st.lists(st.sampled_from(DIRECTIONS), min_size=len(gaps), max_size=len(gaps)))
    taps, offset = [], 0
    for index, (gap, direction) in enumerate(zip(gaps, directions, strict=True)):
        offset += gap
        when = START.astimezone(UTC) + timedelta(seconds=offset)
        taps.append(Tap(f"e{index:02d}", "m1", "murat", when.astimezone(PARIS), direction))
    return taps


NOWS = st.integers(min_value=0, max_value=4 * 86400).map(lambda s: START + timedelta(seconds=s))
DEBOUNCES = st.sampled_from([1, 60, 120])
# No deadline: a slow machine must not fail a test. No example database: nothing written.
PROPERTY = settings(deadline=None, database=None)


@PROPERTY
@given(taps=tap_lists(), data=st.data(), now=NOWS, debounce_s=DEBOUNCES)
def test_arrival_order_does_not_matter(
    taps: list[Tap], data: st.DataObject, now: datetime, debounce_s: int
) -> None:
    shuffled = data.draw(st.permutations(taps))
    assert sessions_from_taps(shuffled, SITE, now=now, debounce_s=debounce_s) == (
        sessions_from_taps(taps, SITE, now=now, debounce_s=debounce_s)
    )


@PROPERTY
@given(taps=tap_lists(), data=st.data(), now=NOWS)
def test_duplicated_taps_change_nothing(
    taps: list[Tap], data: st.DataObject, now: datetime
) -> None:
    repeats = data.draw(st.lists(st.sampled_from(taps), max_size=5)) if taps else []
    assert sessions_from_taps(taps + repeats, SITE, now=now) == sessions_from_taps(
        taps, SITE, now=now
    )


@PROPERTY
@given(taps=tap_lists(), now=NOWS)
def test_sessions_are_ordered_and_disjoint(taps: list[Tap], now: datetime) -> None:
    sessions = sessions_from_taps(taps, SITE, now=now)
    for before, after in pairwise(sessions):
        assert before.end is not None
        assert utc(before.end) < utc(after.start)
    assert all(s.end is not None for s in sessions[:-1])
