"""The demo network's members and days (deploy/demo/year.py, live.py) move like people: the
same days for the same seed, never at two sites at once, never more people than positions,
and their taps as valid events numbered on from each door's counter."""

from __future__ import annotations

import csv
import io
import itertools
from collections import defaultdict
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from deploy.demo.live import DOUBLE_S, GAP_S, LiveDay
from deploy.demo.year import (
    Tap,
    day_taps,
    members,
    members_csv,
    network_sites,
    past_events,
    taps_between,
)
from telecentre import wire

SITES = network_sites()
CROWD = members(SITES, seed=7)
PARIS = ZoneInfo("Europe/Paris")
DAYS = [date(2025, 3, 3) + timedelta(days=n) for n in range(0, 300, 11)]


def test_the_network_has_twelve_sites_and_members_at_each() -> None:
    assert len(SITES) == 12
    assert sum(site.rules.positions.total for site in SITES.values()) == 65
    assert {member.home for member in CROWD} == set(SITES)
    rows = list(csv.DictReader(io.StringIO(members_csv(CROWD))))
    assert len(rows) == len(CROWD) and len({row["badges"] for row in rows}) == len(rows)


def test_the_same_seed_gives_the_same_days_and_another_seed_others() -> None:
    day = date(2025, 5, 13)
    assert day_taps(day, CROWD, SITES, 7) == day_taps(day, members(SITES, 7), SITES, 7)
    assert day_taps(day, CROWD, SITES, 7) != day_taps(day, members(SITES, 8), SITES, 8)


def _stays(taps: list[Tap]) -> dict[str, list[tuple[str, datetime, datetime | None]]]:
    """Each card's stays as the hub pairs toggles (double taps dropped as its debounce does)."""
    open_at: dict[str, tuple[str, datetime]] = {}
    stays: dict[str, list[tuple[str, datetime, datetime | None]]] = defaultdict(list)
    for tap in taps:
        if tap.kind != "member":
            continue
        if tap.badge in open_at:
            site, start = open_at.pop(tap.badge)
            assert site == tap.site, f"{tap.badge} leaves {tap.site} while in at {site}"
            stays[tap.badge].append((site, start, tap.at))
        else:
            open_at[tap.badge] = (tap.site, tap.at)
    for badge, (site, start) in open_at.items():  # a forgotten check-out
        stays[badge].append((site, start, None))
    return stays


@pytest.mark.parametrize("day", DAYS, ids=str)
def test_a_member_is_at_one_site_at_a_time_and_sites_hold_their_positions(day: date) -> None:
    taps = day_taps(day, CROWD, SITES, 7)
    assert taps == sorted(taps, key=lambda tap: tap.at)
    present: dict[str, int] = defaultdict(int)
    for badge_stays in _stays(taps).values():
        for (_, _, end), (_, start, _) in itertools.pairwise(badge_stays):
            assert end is not None and end <= start
        for site, _, _ in badge_stays:
            present[site] += 1
    for site, count in present.items():
        # A member counted once per stay: a lunch break makes two stays of one person.
        assert count <= 2 * SITES[site].rules.positions.total + 2, site


def test_closed_days_have_no_member_taps() -> None:
    assert day_taps(date(2025, 12, 25), CROWD, SITES, 7) == []  # Christmas
    sunday = day_taps(date(2025, 3, 9), CROWD, SITES, 7)
    assert sunday == []


def test_the_past_is_events_as_the_doors_send_them_numbered_after_their_counters() -> None:
    first = datetime(2025, 4, 1, tzinfo=PARIS)
    taps = list(taps_between(first, first + timedelta(days=7), CROWD, SITES, 7))
    assert all(first <= tap.at < first + timedelta(days=7) for tap in taps)
    lines, after = past_events(taps, {"murat-door": 501}, seed=7)
    events = [wire.parse_event(line) for line in lines]
    assert len({event.id for event in events}) == len(events)
    seqs: dict[str, list[int]] = defaultdict(list)
    for event in events:
        seqs[event.device].append(event.seq)
    assert seqs["murat-door"][0] == 501
    for device, numbers in seqs.items():
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
        assert after[device] == numbers[-1] + 1
    kinds = {tap.kind for tap in taps}
    assert kinds == {"member", "double", "stranger"}
    denied = [e for e in events if getattr(e, "access", None) == "denied"]
    assert denied and all(e.reason == "unknown" for e in denied)  # type: ignore[union-attr]
    again, _ = past_events(taps, {"murat-door": 900}, seed=7)
    assert [wire.parse_event(line).id for line in again] == [e.id for e in events]


def test_played_fast_a_members_taps_stay_a_debounce_apart() -> None:
    live = LiveDay(CROWD, SITES, 7, datetime(2025, 6, 2, 7, 0, tzinfo=PARIS), pace=2000)
    queued = list(live.queue)
    for _ in range(4):  # the days that follow, as `due` loads them
        live.day += timedelta(days=1)
        queued += live._load()
    by_badge: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for due, tap in sorted(queued, key=lambda item: item[0]):
        by_badge[tap.badge].append((due, tap.kind))
    assert len(by_badge) > 50
    for badge, dues in by_badge.items():
        for (earlier, _), (later, kind) in itertools.pairwise(dues):
            least = DOUBLE_S if kind == "double" else GAP_S
            assert later - earlier >= least - 1e-6, badge
