"""The demo's simulated members (deploy/demo/people.py) move like people: a home site, a
working day, and never at two sites at once."""

from __future__ import annotations

import itertools
import random
from collections import Counter, defaultdict

import pytest

from deploy.demo.__main__ import HERE, members
from deploy.demo.people import (
    DAY_END,
    DAY_START,
    STRANGER,
    TRAVEL_MIN,
    Person,
    Tap,
    Visit,
    day_of,
    people,
    taps_of_day,
    taps_per_day,
)

SITES = ["murat", "mauriac", "aurillac-a2ex"]
CROWD = people(members(HERE / "members.csv"), SITES)
SEEDS = range(40)


def days(seed: int, count: int = 20) -> list[tuple[Person, list[Visit]]]:
    rng = random.Random(seed)
    return [(person, day_of(person, SITES, rng)) for _ in range(count) for person in CROWD]


def test_every_member_of_the_demo_has_a_home_site_and_every_site_its_regulars() -> None:
    assert len(CROWD) == 8
    assert CROWD[0] == Person("M0001", "04A2B3C4D5E6F7", "murat")
    assert CROWD[5].badge == "3344AABB"  # the first of two badges
    assert set(Counter(person.home for person in CROWD)) == set(SITES)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_day_is_stays_one_after_the_other_with_travel_between_sites(seed: int) -> None:
    for person, visits in days(seed):
        for visit in visits:
            assert DAY_START <= visit.start < visit.end <= DAY_END, visit
        if visits:
            assert visits[0].site == person.home, "the day starts at home"
        for before, after in itertools.pairwise(visits):
            gap = after.start - before.end
            assert gap > 0, (before, after)  # badged out before badging in again
            if after.site != before.site:
                assert gap >= TRAVEL_MIN[0], (before, after)


def test_over_many_days_people_are_sometimes_absent_lunch_out_and_visit_elsewhere() -> None:
    kinds: Counter[str] = Counter()
    for person, visits in days(seed=7, count=50):
        sites = [visit.site for visit in visits]
        if not visits:
            kinds["absent"] += 1
        elif len(sites) == 1:
            kinds["whole day at home"] += 1
        if sites.count(person.home) == 2:
            kinds["lunch out"] += 1
        if any(site != person.home for site in sites):
            kinds["elsewhere"] += 1
        assert sites.count(person.home) >= len(sites) - 1, "one other site a day at most"
    assert all(kinds[kind] >= 10 for kind in ("absent", "whole day at home", "lunch out"))
    assert kinds["elsewhere"] >= 10, kinds


@pytest.mark.parametrize(("seed", "day_s"), [(seed, day_s) for seed in SEEDS for day_s in (4, 60)])
def test_a_days_taps_never_put_one_member_at_two_sites(seed: int, day_s: float) -> None:
    taps = taps_of_day(CROWD, SITES, random.Random(seed), 100.0, day_s, min_gap_s=2.0)
    assert taps == sorted(taps, key=lambda tap: tap.at)
    by_member: dict[str | None, list[Tap]] = defaultdict(list)
    for tap in taps:
        assert tap.at >= 100.0
        by_member[tap.member_id].append(tap)
    assert [tap.badge for tap in by_member.pop(None)] == [STRANGER, STRANGER]
    for member_taps in by_member.values():
        inside: str | None = None  # a toggle reader: each tap enters, or leaves, a site
        for before, after in itertools.pairwise(member_taps):
            assert after.at - before.at >= 2.0 - 1e-9, "closer taps would be debounced by the hub"
        for tap in member_taps:
            if inside is None:
                inside = tap.site
            else:
                assert tap.site == inside, "badged out where they were before going on"
                inside = None
        assert inside is None, "everyone has left by the evening"


def test_a_days_length_gives_the_tap_rate_asked_for() -> None:
    """`./dev demo --tap-every 2`: a day lasts taps_per_day x 2 s, about one tap every 2 s."""
    counts = [len(taps_of_day(CROWD, SITES, random.Random(seed), 0.0, 1.0, 0.0)) for seed in SEEDS]
    assert sum(counts) / len(counts) == pytest.approx(taps_per_day(CROWD), rel=0.15)


def test_the_same_seed_plays_the_same_days() -> None:
    one = taps_of_day(CROWD, SITES, random.Random(3), 0.0, 30.0, 2.0)
    two = taps_of_day(CROWD, SITES, random.Random(3), 0.0, 30.0, 2.0)
    assert one == two
