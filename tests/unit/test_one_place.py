"""One place at a time (hub.rules.one_place), on tables and as a property."""

from __future__ import annotations

from datetime import datetime
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.rules.model import Session, SiteRules, Tap, utc
from hub.rules.one_place import left_elsewhere
from hub.rules.presence import Walked, walk
from tests.unit.test_presence import DIRECTIONS, MON, PROPERTY, SITE, at, tap_lists

YDES = SiteRules("ydes", opening=SITE.opening)


def seen(site: str, when: str, event_id: str = "x") -> Tap:
    return Tap(event_id, "m1", site, at(f"{MON} {when}"))


OPEN_AT_MURAT = Session("m1", "murat", at(f"{MON} 09:00"))
CLOSED_AT_MURAT = Session("m1", "murat", at(f"{MON} 09:00"), at(f"{MON} 12:00"))


@pytest.mark.parametrize(
    ("stay", "taps", "expected"),
    [
        (OPEN_AT_MURAT, [], None),
        (OPEN_AT_MURAT, [seen("murat", "10:00")], None),
        (OPEN_AT_MURAT, [seen("ydes", "10:00")], "10:00"),
        (OPEN_AT_MURAT, [seen("ydes", "11:00", "b"), seen("ydes", "10:00", "a")], "10:00"),
        (OPEN_AT_MURAT, [seen("ydes", "08:00")], None),  # before it started
        (OPEN_AT_MURAT, [seen("ydes", "09:00")], "09:00"),  # at its very start (opened by hand)
        (CLOSED_AT_MURAT, [seen("ydes", "12:00")], None),  # when it had ended already
        (CLOSED_AT_MURAT, [seen("ydes", "11:59")], "11:59"),
    ],
)
def test_left_elsewhere(stay: Session, taps: list[Tap], expected: str | None) -> None:
    left = left_elsewhere({1: stay}, taps)[1]
    assert left == (None if expected is None else at(f"{MON} {expected}"))


def test_of_two_taps_at_the_same_instant_the_later_id_wins() -> None:
    stay = {1: OPEN_AT_MURAT}
    assert left_elsewhere(stay, [seen("ydes", "09:00", "b")], {1: "a"}) == {1: at(f"{MON} 09:00")}
    assert left_elsewhere(stay, [seen("ydes", "09:00", "a")], {1: "b"}) == {1: None}


def _cut(sessions: dict[int, Walked], taps: list[Tap]) -> list[Session]:
    left = left_elsewhere(
        {k: w.session for k, w in sessions.items()},
        taps,
        {k: w.start_event_id for k, w in sessions.items()},
    )
    return [
        w.session
        if left[k] is None
        else Session(w.session.member_id, w.session.site, w.session.start, left[k])
        for k, w in sessions.items()
    ]


@PROPERTY
@given(taps=tap_lists(), sites=st.data())
def test_a_member_is_never_at_two_sites(taps: list[Tap], sites: st.DataObject) -> None:
    """Taps spread over two sites: once cut, the member's sessions never overlap."""
    placed = [
        Tap(t.event_id, t.member_id, sites.draw(st.sampled_from(["murat", "ydes"])), t.ts,
            sites.draw(st.sampled_from(DIRECTIONS)))
        for t in taps
    ]  # fmt: skip
    later = datetime.fromisoformat("2030-01-01T00:00+00:00")
    stays: dict[int, Walked] = {}
    for site in (SITE, YDES):
        replay = walk([t for t in placed if t.site == site.id], site, now=later)
        stays |= {len(stays) + i: w for i, w in enumerate(replay.sessions)}
    counted = [t for t in placed if walk_outcome(placed, t) != "debounced"]
    cut = sorted(_cut(stays, counted), key=lambda s: (utc(s.start), utc(s.end or later)))
    for before, after in pairwise(cut):
        assert before.end is not None and utc(before.end) <= utc(after.start)


def walk_outcome(taps: list[Tap], tap: Tap) -> str:
    site = SITE if tap.site == "murat" else YDES
    later = datetime.fromisoformat("2030-01-01T00:00+00:00")
    return walk([t for t in taps if t.site == tap.site], site, now=later).outcomes[tap.event_id]
