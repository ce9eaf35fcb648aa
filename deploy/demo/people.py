"""The demo's members as people: a home site, a working day, never in two places at once.

Each simulated day, a member is absent (sometimes), or arrives at their home site in the
morning, maybe goes out for lunch and comes back, maybe leaves in the afternoon to work at
another site (badging out at home, travelling, badging in there), and leaves in the evening.
A card nobody enrolled is tried now and then. The day (07:00 to 20:00) is played in a few
real minutes; the events carry the real time at which they are tapped.

>>> rng = random.Random(1)
>>> visits = day_of(Person("M0001", "04A2B3C4D5E6F7", "murat"), ["murat", "mauriac"], rng)
>>> [(v.site, v.start, v.end) for v in visits]       # minutes of the day
"""

from __future__ import annotations

import random
from dataclasses import dataclass

DAY_START, DAY_END = 7 * 60, 20 * 60  # the simulated day, in minutes from midnight
ABSENT = 0.15  # chance that a member does not come on a given day
LUNCH_OUT = 0.4  # chance of going out for lunch and back
ELSEWHERE = 0.15  # chance of going on to work at another site in the afternoon
TRAVEL_MIN = (25, 60)  # minutes between two sites of the Cantal
STRANGERS_PER_DAY = 2  # taps of a card nobody enrolled (denied)
STRANGER = "0BADC0DE"


@dataclass(frozen=True)
class Person:
    member_id: str
    badge: str
    home: str


@dataclass(frozen=True)
class Visit:
    """A stay at one site, badged in at `start` and out at `end` (minutes of the day)."""

    site: str
    start: int
    end: int


@dataclass(frozen=True)
class Tap:
    """A card on a site's reader at `at` seconds after the demo's start; `member_id` None:
    the stranger's card."""

    at: float
    site: str
    badge: str
    member_id: str | None


def people(members: list[tuple[str, str]], sites: list[str]) -> list[Person]:
    """Members (id, badge) get home sites in turn: every site has its regulars."""
    return [
        Person(member_id, badge, sites[i % len(sites)])
        for i, (member_id, badge) in enumerate(members)
    ]


def day_of(person: Person, sites: list[str], rng: random.Random) -> list[Visit]:
    """One member's stays of one day, in order, never overlapping, with travel between sites."""
    if rng.random() < ABSENT:
        return []
    arrive = rng.randint(8 * 60, 9 * 60 + 30)
    leave = rng.randint(16 * 60 + 30, 18 * 60 + 30)
    visits = []
    start = arrive
    if rng.random() < LUNCH_OUT:
        out = rng.randint(12 * 60, 12 * 60 + 30)
        visits.append(Visit(person.home, start, out))
        start = out + rng.randint(30, 75)
    elsewhere = [site for site in sites if site != person.home]
    if elsewhere and rng.random() < ELSEWHERE:
        out = max(start + 30, rng.randint(13 * 60 + 30, 14 * 60 + 30))
        visits.append(Visit(person.home, start, out))
        start, site = out + rng.randint(*TRAVEL_MIN), rng.choice(elsewhere)
        visits.append(Visit(site, start, max(leave, start + 60)))
    else:
        visits.append(Visit(person.home, start, leave))
    return visits


def taps_of_day(
    crowd: list[Person],
    sites: list[str],
    rng: random.Random,
    starts_at: float,
    day_s: float,
    min_gap_s: float,
) -> list[Tap]:
    """A day's taps in real seconds: the day's minutes squeezed into `day_s` from `starts_at`.

    A member's taps stay in their order and at least `min_gap_s` apart (the hub's debounce
    would drop a closer one, and the member would seem still in), pushed later if need be."""
    scale = day_s / (DAY_END - DAY_START)
    taps = []
    for person in crowd:
        last = -min_gap_s
        for visit in day_of(person, sites, rng):
            for minute in (visit.start, visit.end):
                at = max(starts_at + (minute - DAY_START) * scale, last + min_gap_s)
                taps.append(Tap(at, visit.site, person.badge, person.member_id))
                last = at
    for _ in range(STRANGERS_PER_DAY):
        minute = rng.randint(DAY_START, DAY_END)
        taps.append(
            Tap(starts_at + (minute - DAY_START) * scale, rng.choice(sites), STRANGER, None)
        )
    return sorted(taps, key=lambda tap: tap.at)


def taps_per_day(crowd: list[Person]) -> float:
    """How many taps a day brings on average: the demo sizes its day to a tap rate from it."""
    per_member = 2 * (1 + LUNCH_OUT + ELSEWHERE) * (1 - ABSENT)
    return len(crowd) * per_member + STRANGERS_PER_DAY
