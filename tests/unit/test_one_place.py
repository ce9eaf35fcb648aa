"""One place at a time (docs/rules.md), in the member's walk over all their sites
(hub.rules.presence.walk), on tables and as a property."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.rules.model import Direction, SiteRules, Tap, utc
from hub.rules.presence import walk
from tests.unit.test_presence import DIRECTIONS, MON, PROPERTY, SITE, at, tap_lists

YDES = SiteRules("ydes", opening=SITE.opening)
SITES = {"murat": SITE, "ydes": YDES}
LATER = datetime.fromisoformat("2030-01-01T00:00+00:00")


def seen(site: str, when: str, event_id: str, direction: Direction = "toggle") -> Tap:
    return Tap(event_id, "m1", site, at(f"{MON} {when}"), direction)


def ends(taps: list[Tap]) -> list[tuple[str, str, str | None, str | None]]:
    """(site, start, end, how it ended) of each session the walk makes."""
    return [
        (
            w.session.site,
            w.session.start.strftime("%H:%M"),
            None if w.session.end is None else w.session.end.strftime("%H:%M"),
            w.end_reason,
        )
        for w in walk(taps, SITES, now=LATER).sessions
    ]


@pytest.mark.parametrize(
    ("taps", "expected"),
    [
        (  # seen at Ydes: left Murat then
            [seen("murat", "09:00", "a", "in"), seen("ydes", "10:00", "b", "in")],
            [("murat", "09:00", "10:00", "elsewhere"), ("ydes", "10:00", "17:00", "auto")],
        ),
        (  # a tap out at Ydes (no session there) says they are there all the same
            [seen("murat", "09:00", "a", "in"), seen("ydes", "10:00", "b", "out")],
            [("murat", "09:00", "10:00", "elsewhere")],
        ),
        (  # before Murat's session: nothing to cut
            [seen("ydes", "08:00", "b", "out"), seen("murat", "09:00", "a", "in")],
            [("murat", "09:00", "17:00", "auto")],
        ),
        (  # a tap out at Murat after Ydes: they left Ydes for Murat, but were not in there
            [
                seen("murat", "09:00", "a", "in"),
                seen("murat", "12:00", "c", "out"),
                seen("ydes", "11:59", "b", "in"),
            ],
            [("murat", "09:00", "11:59", "elsewhere"), ("ydes", "11:59", "12:00", "elsewhere")],
        ),
        (  # a card seen twice at Ydes is one gesture: the second one is debounced
            [
                seen("murat", "09:00", "a", "in"),
                seen("ydes", "10:00", "b", "in"),
                Tap("c", "m1", "ydes", at(f"{MON} 10:00:30"), "toggle"),
            ],
            [("murat", "09:00", "10:00", "elsewhere"), ("ydes", "10:00", "17:00", "auto")],
        ),
        (  # back at Murat (in readers): at Murat again from the return
            [
                seen("murat", "09:00", "a", "in"),
                seen("ydes", "10:00", "b", "in"),
                seen("murat", "11:00", "c", "in"),
                seen("murat", "12:00", "d", "out"),
            ],
            [
                ("murat", "09:00", "10:00", "elsewhere"),
                ("ydes", "10:00", "11:00", "elsewhere"),
                ("murat", "11:00", "12:00", "tap"),
            ],
        ),
    ],
)
def test_one_place_at_a_time(
    taps: list[Tap], expected: list[tuple[str, str, str | None, str | None]]
) -> None:
    assert ends(taps) == expected


def test_of_two_taps_at_the_same_instant_the_later_id_wins() -> None:
    assert ends([seen("murat", "09:00", "a", "in"), seen("ydes", "09:00", "b", "in")]) == [
        ("murat", "09:00", "09:00", "elsewhere"),
        ("ydes", "09:00", "17:00", "auto"),
    ]
    assert ends([seen("murat", "09:00", "b", "in"), seen("ydes", "09:00", "a", "in")]) == [
        ("ydes", "09:00", "09:00", "elsewhere"),
        ("murat", "09:00", "17:00", "auto"),
    ]


@PROPERTY
@given(taps=tap_lists(), data=st.data())
def test_a_member_is_never_at_two_sites(taps: list[Tap], data: st.DataObject) -> None:
    """Taps spread over two sites, with any readers: the sessions never overlap."""
    placed = [
        replace(
            tap,
            site=data.draw(st.sampled_from(sorted(SITES))),
            direction=data.draw(st.sampled_from(DIRECTIONS)),
        )
        for tap in taps
    ]
    stays = [w.session for w in walk(placed, SITES, now=LATER).sessions]
    ordered = sorted(stays, key=lambda s: (utc(s.start), utc(s.end or LATER)))
    for before, after in pairwise(ordered):
        assert before.end is not None and utc(before.end) <= utc(after.start)
