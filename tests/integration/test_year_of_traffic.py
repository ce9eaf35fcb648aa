"""A year (2026) of a Cantal-like network's badge traffic, end to end: the yearly evaluation
must give back what the traffic generator meant.

The generator (seeded, so every run is the same year) plans each member's visits first, as
ground truth: every session's start and end, including the auto-closes at the site's closing
time (forgotten check-outs) or 12 h after the start (taps on a closed day or after closing).
It then turns the plan into badge events as edges send them: in/out readers or a toggle
reader, reader bounces inside the debounce window, a second `in` while in, an `out` without
an `in`, stays past closing, denied taps, unknown badges, door events, events sent twice, and
delivery out of order (jitter, and edges offline for days that send their backlog late).

Everything goes through the API (`POST /api/v1/events/import` with the presence engine as its
hook, as in the running hub), then `GET /api/v1/sessions` and `GET /api/v1/evaluation` are
compared with figures computed here from the plan alone: none of `hub.rules` is used, and
the public holidays are listed below by hand.
"""

from __future__ import annotations

import itertools
import json
import random
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import TestResponse

from hub.config import HubConfig
from hub.presence.engine import Presence
from hub.web.app import create_app

SEED = 20260101
TOKEN = "department-token-year-2026"
PARIS = ZoneInfo("Europe/Paris")
YEAR_FIRST, YEAR_LAST = date(2026, 1, 1), date(2026, 12, 31)
#: Traffic starts before and ends after the year, so that sessions on both edges exist.
TRAFFIC_FIRST, TRAFFIC_LAST = date(2025, 12, 15), date(2027, 1, 15)
#: "Now" for the presence engine: every session of the traffic has reached its close.
NOW = datetime(2027, 2, 1, tzinfo=UTC)
DEBOUNCE = timedelta(seconds=60)
MAX_SESSION = timedelta(hours=12)
#: Between two visits of a member at a site: more than the debounce.
GAP = timedelta(minutes=3)

#: French public holidays (metropolitan) of the traffic's span, written out by hand.
HOLIDAYS = frozenset(
    {
        date(2025, 12, 25),
        date(2026, 1, 1),  # Jour de l'an
        date(2026, 4, 6),  # Lundi de Pâques
        date(2026, 5, 1),  # Fête du travail
        date(2026, 5, 8),  # Victoire 1945
        date(2026, 5, 14),  # Ascension
        date(2026, 5, 25),  # Lundi de Pentecôte
        date(2026, 7, 14),  # Fête nationale
        date(2026, 8, 15),  # Assomption
        date(2026, 11, 1),  # Toussaint
        date(2026, 11, 11),  # Armistice
        date(2026, 12, 25),  # Noël
        date(2027, 1, 1),
    }
)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CATEGORIES = ("independent", "employee", "mobile", "other")
WEEKDAYS_5 = ("mon", "tue", "wed", "thu", "fri")


@dataclass(frozen=True)
class SitePlan:
    id: str
    name: str
    zrr: bool
    office: int
    open_space: int
    opening: dict[str, list[str]]
    cost: int | None
    toggle: bool
    meeting: int = 0
    closed: tuple[date, ...] = ()
    open_on_holidays: bool = False
    #: Edges stamping events in UTC rather than local time (both are RFC 3339).
    utc_clock: bool = False

    @property
    def positions(self) -> int:
        return self.office + self.open_space

    def intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """The day's opening ranges as instants (FORMATS.md, RULES.md "Opening hours")."""
        if day in self.closed or (day in HOLIDAYS and not self.open_on_holidays):
            return []
        return [
            (
                datetime.combine(day, time.fromisoformat(start), PARIS),
                datetime.combine(day, time.fromisoformat(end), PARIS),
            )
            for start, end in (r.split("-") for r in self.opening.get(WEEKDAYS[day.weekday()], []))
        ]


def every(days: tuple[str, ...], *ranges: str) -> dict[str, list[str]]:
    return {day: list(ranges) for day in days}


# 10 télécentres as in the 2013 evaluation: 58 positions, 34 offices and 24 open-space desks,
# 934 € a position a year (Pierrefort's cost is not known); Montsalvy, a project, has only a
# meeting room: no position, so not a télécentre in the figures, but its sessions are hours.
SITES = (
    SitePlan(
        "mauriac", "Médiathèque de Mauriac", True, 4, 4,
        every(WEEKDAYS_5, "09:00-12:30", "13:30-18:00") | {"sat": ["09:00-12:00"]},
        6500, toggle=True,
    ),
    SitePlan(
        "ydes", "Maison des Services", True, 3, 0,
        every(WEEKDAYS_5, "08:30-12:00", "13:30-17:00"), 3800, toggle=False, utc_clock=True,
    ),
    SitePlan(
        "riom-es-montagnes", "Pays Gentiane", True, 4, 2,
        every(("tue", "wed", "thu", "fri", "sat"), "09:00-17:30"), 5200, toggle=True,
        closed=(date(2026, 8, 10), date(2026, 8, 11), date(2026, 8, 12)),
    ),
    SitePlan(
        "cassaniouze", "Télécentre de Cassaniouze", True, 2, 0,
        every(("mon", "wed", "fri"), "09:00-17:00"), 2100, toggle=False, meeting=6,
    ),
    SitePlan(
        "montmurat", "Télécentre de Montmurat", True, 2, 2,
        every(("mon", "tue", "wed", "thu"), "08:00-12:00", "14:00-18:00"), 2600, toggle=True,
    ),
    SitePlan(
        "murat", "La Cocotte Numérique", True, 3, 6,
        every(("mon",), "08:30-12:00", "13:30-17:00")
        | every(("tue", "wed", "thu", "fri"), "08:30-17:00"),
        5400, toggle=False, closed=(date(2026, 12, 24), date(2026, 12, 31)),
    ),
    SitePlan(
        "aurillac-cci", "CCI du Cantal", False, 6, 4,
        every(WEEKDAYS_5, "08:00-19:00"), 12872, toggle=False,
    ),
    SitePlan(
        "aurillac-a2ex", "A2EX, site de l'IUT", False, 5, 3,
        every(WEEKDAYS_5, "08:30-18:30"), 8200, toggle=True, meeting=10, utc_clock=True,
    ),
    SitePlan(
        "aurillac-la-forge", "La Forge", False, 3, 3,
        every(WEEKDAYS_5, "08:00-20:00") | {"sat": ["10:00-18:00"]}, 7500, toggle=True,
        open_on_holidays=True,
    ),
    SitePlan(
        "pierrefort", "Télécentre de Pierrefort", True, 2, 0,
        every(("tue", "thu"), "09:00-17:00"), None, toggle=False,
    ),
    SitePlan(
        "montsalvy", "Projet de Montsalvy", True, 0, 0,
        every(("wed",), "14:00-18:00"), None, toggle=True, meeting=8,
    ),
)  # fmt: skip
BY_ID = {site.id: site for site in SITES}


def sites_yaml() -> str:
    lines = ["sites:"]
    for site in SITES:
        spaces = [("bureaux", "office", site.office), ("plateau", "open_space", site.open_space)]
        spaces.append(("reunion", "meeting", site.meeting))
        lines += [
            f"  - id: {site.id}",
            f"    name: {json.dumps(site.name)}",
            f"    zrr: {json.dumps(site.zrr)}",
            "    timezone: Europe/Paris",
            f"    annual_cost_eur: {json.dumps(site.cost)}",
            "    spaces:",
            *(f"      - {{id: {i}, kind: {k}, positions: {n}}}" for i, k, n in spaces if n),
            "    opening:",
            *(f"      {day}: {json.dumps(ranges)}" for day, ranges in site.opening.items()),
            f"    open_on_public_holidays: {json.dumps(site.open_on_holidays)}",
            f"    closed: {json.dumps([d.isoformat() for d in site.closed])}",
            "    tariffs:",
            "      public: {hourly: 3.0, daily_cap: 15.0, monthly_cap: 150.0}",
            "      pass: {hourly: 2.0, daily_cap: 10.0, monthly_cap: 100.0}",
        ]  # fmt: skip
    return "\n".join(lines) + "\n"


# --- The plan: members and their visits --------------------------------------------------------


@dataclass
class MemberPlan:
    id: str
    category: str
    pass_since: date | None
    pass_until: date | None
    badges: list[str]
    homes: list[str]
    #: Chance of a visit on a day one of the homes is open.
    assiduity: float

    def pass_valid_in(self, first: date, last: date) -> bool:
        if self.pass_since is None or self.pass_since > last:
            return False
        return self.pass_until is None or self.pass_until >= first


@dataclass(frozen=True)
class Stay:
    """A session as the rules should make it (the ground truth)."""

    member: str
    site: str
    start: datetime
    end: datetime
    auto_closed: bool


Access = Literal["granted", "denied"]


@dataclass(frozen=True)
class Tap:
    site: str
    ts: datetime
    badge: str
    direction: Literal["in", "out", "toggle"]
    access: Access = "granted"
    reason: str | None = None


@dataclass
class Traffic:
    members: list[MemberPlan] = field(default_factory=list)
    stays: list[Stay] = field(default_factory=list)
    taps: list[Tap] = field(default_factory=list)
    doors: list[tuple[str, datetime, str]] = field(default_factory=list)


def hex_badge(rng: random.Random) -> str:
    return f"{rng.getrandbits(56):014X}"


def make_members(rng: random.Random) -> list[MemberPlan]:
    members = []
    sites_with_positions = [s.id for s in SITES if s.positions]
    for n in range(1, 211):
        category = rng.choices(CATEGORIES, weights=(40, 35, 20, 5))[0]
        since: date | None = None
        until: date | None = None
        kind = rng.random()
        if n <= 135:  # Pass holders, valid in 2026 or not
            if n <= 20:  # expired before 2026
                since = date(2024, 1, 1) + timedelta(days=rng.randrange(300))
                until = date(2025, 6, 1) + timedelta(days=rng.randrange(200))
            elif n <= 28:  # starts in 2027
                since = date(2027, 1, 1) + timedelta(days=rng.randrange(1, 60))
            elif n == 29:
                since, until = date(2025, 1, 1), date(2026, 1, 1)  # valid on its last day
            elif n == 30:
                since = date(2026, 12, 31)  # valid from the last day of the year
            elif n == 31:
                since, until = date(2025, 1, 1), date(2025, 12, 31)  # just missed
            else:
                since = date(2025, 3, 1) + timedelta(days=rng.randrange(640))
                if kind < 0.3:
                    until = since + timedelta(days=rng.randrange(30, 500))
        badges = [hex_badge(rng) for _ in range(rng.choice((1, 1, 1, 2)))]
        homes = [rng.choice(sites_with_positions)]
        if rng.random() < 0.2:
            homes.append(rng.choice([s for s in sites_with_positions if s != homes[0]]))
        profile = rng.random()
        if profile < 0.08:
            assiduity = 0.0  # members who never come
        elif profile < 0.3:
            assiduity = rng.uniform(0.3, 0.6)
        elif profile < 0.75:
            assiduity = rng.uniform(0.05, 0.2)
        else:
            assiduity = rng.uniform(0.005, 0.03)
        members.append(MemberPlan(f"M{n:04d}", category, since, until, badges, homes, assiduity))
    return members


def ms(rng: random.Random, first: datetime, last: datetime) -> datetime:
    """A random instant in [first, last], to the millisecond."""
    span = int((last - first).total_seconds() * 1000)
    return first + timedelta(milliseconds=rng.randint(0, max(span, 0)))


def between(rng: random.Random, first: datetime, last: datetime, count: int) -> list[datetime]:
    """`count` sorted instants in [first, last], at least GAP apart."""
    if count == 2:  # one stay: most of the day, as teleworkers do
        span = last - first
        start = ms(rng, first, first + span * 0.45)
        return [start, ms(rng, start + span * 0.25, last)]
    while True:
        points = sorted(ms(rng, first, last) for _ in range(count))
        if all(b - a >= GAP for a, b in itertools.pairwise(points)):
            return points


class Generator:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.traffic = Traffic(members=make_members(self.rng))
        #: When each member's last visit at a site is over (its last tap or its auto-close).
        self.busy: dict[tuple[str, str], datetime] = {}

    def run(self) -> Traffic:
        rng = self.rng
        day = TRAFFIC_FIRST
        while day <= TRAFFIC_LAST:
            for member in self.traffic.members:
                if not member.badges or member.assiduity == 0:
                    continue
                open_homes = [s for s in member.homes if BY_ID[s].intervals(day)]
                if open_homes and rng.random() < member.assiduity:
                    self.visit(member, BY_ID[rng.choice(open_homes)], day)
                elif rng.random() < member.assiduity * 0.02:
                    self.off_hours(member, BY_ID[member.homes[0]], day)
            day += timedelta(days=1)
        self.scripted()
        self.noise()
        return self.traffic

    # -- visits ----------------------------------------------------------------------------

    def free(self, member: MemberPlan, site: SitePlan, first_tap: datetime) -> bool:
        busy = self.busy.get((member.id, site.id))
        return busy is None or first_tap >= busy + GAP

    def tap(self, member: MemberPlan, site: SitePlan, ts: datetime, direction: str) -> None:
        """A granted tap; at a toggle site every tap toggles, whatever the member meant."""
        way: Literal["in", "out", "toggle"]
        way = "toggle" if site.toggle else "in" if direction == "in" else "out"
        self.traffic.taps.append(Tap(site.id, ts, self.rng.choice(member.badges), way))
        rng = self.rng
        if rng.random() < 0.04:  # the reader saw the card twice: debounced
            bounce = ts + timedelta(milliseconds=rng.randint(500, 50_000))
            self.traffic.taps.append(Tap(site.id, bounce, self.rng.choice(member.badges), way))
        if rng.random() < 0.1:
            self.traffic.doors.append((site.id, ts + timedelta(seconds=1), "open"))
            self.traffic.doors.append((site.id, ts + timedelta(seconds=6), "closed"))

    def stay(
        self, member: MemberPlan, site: SitePlan, start: datetime, end: datetime, auto: bool
    ) -> None:
        self.traffic.stays.append(Stay(member.id, site.id, start, end, auto))

    def visit(self, member: MemberPlan, site: SitePlan, day: date) -> None:
        rng = self.rng
        ranges = site.intervals(day)
        opens, closes = ranges[0][0], ranges[-1][1]
        if not site.toggle and rng.random() < 0.01:  # badged out without badging in
            out = ms(rng, opens + GAP, closes - GAP)
            if self.free(member, site, out):
                self.tap(member, site, out, "out")
                self.busy[member.id, site.id] = out
            return
        points = between(rng, opens, closes - timedelta(minutes=1), 4 if rng.random() < 0.15 else 2)
        if not self.free(member, site, points[0]):
            return
        if rng.random() < 0.01:  # a denied tap first (say, an expired access list on the edge)
            denied = points[0] - timedelta(seconds=rng.randint(5, 55))
            badge = rng.choice(member.badges)
            self.traffic.taps.append(Tap(site.id, denied, badge, "in", "denied", "outside_hours"))
        pairs = list(zip(points[::2], points[1::2], strict=True))
        ending = rng.random()
        for index, (start, end) in enumerate(pairs):
            last = index == len(pairs) - 1
            self.tap(member, site, start, "in")
            if (
                not site.toggle and end - start > timedelta(minutes=10) and rng.random() < 0.03
            ):  # a second `in` while in: counted for the debounce, ignored otherwise
                self.tap(member, site, start + timedelta(seconds=rng.randint(90, 240)), "in")
            if last and ending < 0.05:  # forgot to badge out: auto-closed at closing time
                self.stay(member, site, start, closes, True)
                self.busy[member.id, site.id] = closes
            elif last and ending < 0.07 and not site.toggle:  # left after closing
                late = closes + timedelta(minutes=rng.randint(5, 40))
                self.tap(member, site, late, "out")
                self.stay(member, site, start, closes, True)
                self.busy[member.id, site.id] = late
            else:
                self.tap(member, site, end, "out")
                self.stay(member, site, start, end, False)
                self.busy[member.id, site.id] = end

    def off_hours(self, member: MemberPlan, site: SitePlan, day: date) -> None:
        """A visit outside opening hours (members whose access is "always"): closed after
        `max_session_h` when forgotten."""
        rng = self.rng
        ranges = site.intervals(day)
        if ranges:
            first = ranges[-1][1] + timedelta(minutes=20)
            start = ms(rng, first, first + timedelta(hours=2))
        else:
            start = ms(
                rng, datetime.combine(day, time(9), PARIS), datetime.combine(day, time(20), PARIS)
            )
        self.night(member, site, start, rng.random() < 0.3)

    def night(self, member: MemberPlan, site: SitePlan, start: datetime, forgotten: bool) -> None:
        """A visit from `start`; `forgotten`: never badged out, so closed by rule 4."""
        if not self.free(member, site, start):
            return
        ranges = site.intervals(start.date())
        closing = ranges[-1][1] if ranges and start < ranges[-1][1] else None
        self.tap(member, site, start, "in")
        if forgotten:
            if closing is None:  # a closed day, or after closing: 12 h of real time
                end = (start.astimezone(UTC) + MAX_SESSION).astimezone(PARIS)
            else:
                end = closing
            self.stay(member, site, start, end, True)
        else:
            longest = 240 if closing is None else (closing - start) // timedelta(minutes=1) - 1
            end = start + timedelta(minutes=self.rng.randint(min(30, longest), longest))
            self.tap(member, site, end, "out")
            self.stay(member, site, start, end, False)
        self.busy[member.id, site.id] = end

    def scripted(self) -> None:
        """Edge cases on dates that matter, by members with no other traffic there."""
        owls = [
            MemberPlan(f"N{n:03d}", "mobile", None, None, [hex_badge(self.rng)], [], 0)
            for n in range(1, 6)
        ]
        self.traffic.members.extend(owls)

        def at(text: str) -> datetime:
            return datetime.fromisoformat(text).replace(tzinfo=PARIS)

        # 2025's: started on 31 December after closing, auto-closed in 2026.
        self.night(owls[0], BY_ID["aurillac-cci"], at("2025-12-31 21:30:00.250"), True)
        # Across the DST changes: 12 h of real time, 11 or 13 on the wall clock.
        self.night(owls[1], BY_ID["aurillac-la-forge"], at("2026-03-28 20:10:00"), True)
        self.night(owls[1], BY_ID["aurillac-la-forge"], at("2026-10-24 21:00:00"), True)
        # A holiday at a site open on holidays: closes at the day's closing time.
        self.night(owls[2], BY_ID["aurillac-la-forge"], at("2026-07-14 10:00:00"), True)
        self.night(owls[2], BY_ID["aurillac-la-forge"], at("2026-05-01 10:00:00"), False)
        # A holiday and an extra closed day at sites closed then: 12 h.
        self.night(owls[3], BY_ID["aurillac-cci"], at("2026-11-11 10:00:00"), True)
        self.night(owls[3], BY_ID["murat"], at("2026-12-24 09:00:00"), True)
        # 2026's last evening, closed in 2027; and 2027's first day.
        self.night(owls[4], BY_ID["aurillac-la-forge"], at("2026-12-31 20:30:00"), True)
        self.night(owls[4], BY_ID["aurillac-la-forge"], at("2027-01-01 11:00:00"), False)
        # A meeting-room-only site: hours, no position.
        self.night(owls[4], BY_ID["montsalvy"], at("2026-06-03 14:30:00"), False)
        self.night(owls[4], BY_ID["montsalvy"], at("2026-06-10 14:30:00"), True)
        for n, (site, text) in enumerate(
            [("montmurat", "2026-06-03 15:00:00"), ("montmurat", "2026-06-04 09:00:00")]
        ):
            self.night(owls[n], BY_ID[site], at(text), n == 0)

    def noise(self) -> None:
        """Taps that must count for nothing: unknown badges, denied or (an edge with an old
        access list) granted."""
        rng = self.rng
        unknown = [hex_badge(rng) for _ in range(40)]
        for _ in range(400):
            site = rng.choice(SITES)
            day = TRAFFIC_FIRST + timedelta(days=rng.randrange(390))
            ts = datetime.combine(day, time(8), PARIS) + timedelta(seconds=rng.randrange(36000))
            granted = rng.random() < 0.1
            self.traffic.taps.append(
                Tap(
                    site.id,
                    ts,
                    rng.choice(unknown),
                    "toggle" if site.toggle else "in",
                    "granted" if granted else "denied",
                    None if granted else "unknown",
                )
            )


# --- From taps to the JSON Lines edges would send ------------------------------------------


@dataclass
class Delivery:
    lines: list[str]
    unique: int
    duplicates: int
    bad: int


def stamp(site: SitePlan, ts: datetime) -> str:
    return ts.astimezone(UTC if site.utc_clock else PARIS).isoformat(timespec="milliseconds")


def deliver(traffic: Traffic, rng: random.Random) -> Delivery:
    """Events in the order the hub gets them: mostly as they happen with some jitter, plus
    edges offline for days whose backlog comes later, some sent twice, a few malformed."""
    events: list[tuple[datetime, dict[str, Any]]] = []
    for tap in traffic.taps:
        event: dict[str, Any] = {
            "type": "badge",
            "badge": tap.badge,
            "reader": "entrance" if tap.direction != "out" else "exit",
            "direction": tap.direction,
            "access": tap.access,
        }
        if tap.reason is not None:
            event["reason"] = tap.reason
        events.append((tap.ts, {"site": tap.site, **event}))
    for site_id, ts, state in traffic.doors:
        events.append((ts, {"site": site_id, "type": "door", "door": "main", "state": state}))
    events.sort(key=lambda pair: pair[0])
    seq: dict[str, int] = defaultdict(int)
    outages = [
        (rng.choice(SITES).id, datetime.combine(d, time(0), PARIS), days)
        for d, days in [
            (date(2026, 2, 9), 5),
            (date(2026, 4, 27), 9),
            (date(2026, 9, 14), 3),
            (date(2026, 12, 28), 4),
        ]
    ]
    timed: list[tuple[datetime, str]] = []
    for ts, body in events:
        site = BY_ID[body["site"]]
        seq[site.id] += 1
        payload = {
            "v": 1,
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "device": f"{site.id}-door",
            "seq": seq[site.id],
            "ts": stamp(site, ts),
            "clock_synced": True,
            **body,
        }
        line = json.dumps(payload)
        arrives = ts + timedelta(seconds=rng.uniform(0, 900))  # jitter: reordered in batches
        for outage_site, begins, days in outages:
            if site.id == outage_site and begins <= ts < begins + timedelta(days=days):
                arrives = NOW if days > 8 else begins + timedelta(days=days + 20)
        timed.append((arrives, line))
        if rng.random() < 0.01:  # the edge did not get the acknowledgement: sent again
            timed.append((arrives + timedelta(hours=rng.uniform(0, 72)), line))
    duplicates = len(timed) - len(events)
    bad_lines = [
        "not json at all",
        json.dumps({"v": 1, "type": "badge", "site": "Murat"}),
        json.dumps(  # denied, but no reason
            {
                "v": 1,
                "id": "bad-1",
                "type": "badge",
                "site": "murat",
                "device": "murat-door",
                "seq": 1,
                "ts": "2026-03-02T09:00:00+01:00",
                "clock_synced": True,
                "badge": "04A2B3C4",
                "reader": "entrance",
                "direction": "in",
                "access": "denied",
            }
        ),
    ]
    for n, line in enumerate(bad_lines):
        timed.append((datetime(2026, 3 + 3 * n, 1, tzinfo=UTC), line))
    timed.sort(key=lambda pair: pair[0])
    return Delivery([line for _, line in timed], len(events), duplicates, len(bad_lines))


# --- The figures RULES.md asks for, from the plan ------------------------------------------------


QUARTER = Decimal("0.0001")


def hours(microseconds: int) -> float:
    value = (Decimal(microseconds) / Decimal(3_600_000_000)).quantize(QUARTER, ROUND_HALF_UP)
    return float(value)


def micro(delta: timedelta) -> int:
    return delta // timedelta(microseconds=1)


def available_us(site: SitePlan) -> int:
    total = 0
    day = YEAR_FIRST
    while day <= YEAR_LAST:
        total += sum(
            micro(end.astimezone(UTC) - start.astimezone(UTC)) for start, end in site.intervals(day)
        )
        day += timedelta(days=1)
    return total * site.positions


def figures(
    sites: list[SitePlan], stays: list[Stay], members: dict[str, MemberPlan], pass_members: int
) -> dict[str, Any]:
    ids = {site.id for site in sites}
    own = [s for s in stays if s.site in ids]
    users = {s.member for s in own}
    by_category = dict.fromkeys((*CATEGORIES, "unknown"), 0)
    for user in users:
        by_category[members[user].category] += 1
    used = sum(micro(s.end.astimezone(UTC) - s.start.astimezone(UTC)) for s in own)
    available = sum(available_us(site) for site in sites)
    office = sum(site.office for site in sites)
    open_space = sum(site.open_space for site in sites)
    costs = [site.cost for site in sites if site.cost is not None]
    rate = None
    if available:
        rate = float((Decimal(used) / Decimal(available)).quantize(QUARTER, ROUND_HALF_UP))
    cost = None
    if costs and office + open_space:
        cost = float(
            (Decimal(sum(costs)) / (office + open_space)).quantize(Decimal("0.01"), ROUND_HALF_UP)
        )
    return {
        "sites": sum(1 for site in sites if site.positions),
        "positions": {"total": office + open_space, "office": office, "open_space": open_space},
        "users": len(users),
        "users_by_category": by_category,
        "hours": hours(used),
        "available_hours": hours(available),
        "occupancy_rate": rate,
        "pass_members": pass_members,
        "cost_per_position": cost,
    }


def expected_evaluation(traffic: Traffic) -> dict[str, Any]:
    members = {m.id: m for m in traffic.members}
    # Rule 5: a session is the year's when its start's local day is in the year.
    stays = [
        s for s in traffic.stays if YEAR_FIRST <= s.start.astimezone(PARIS).date() <= YEAR_LAST
    ]
    holders = {m.id for m in traffic.members if m.pass_valid_in(YEAR_FIRST, YEAR_LAST)}

    def scope(chosen: list[SitePlan]) -> dict[str, Any]:
        # For a site (or the ZRR split), the Pass members are the holders who used it.
        used = {s.member for s in stays if s.site in {site.id for site in chosen}}
        return figures(chosen, stays, members, len(holders & used))

    ordered = sorted(SITES, key=lambda site: site.id)
    return {
        "from": YEAR_FIRST.isoformat(),
        "to": YEAR_LAST.isoformat(),
        **figures(ordered, stays, members, len(holders)),
        "by_site": [{"site": site.id, **scope([site])} for site in ordered],
        "zrr": scope([site for site in ordered if site.zrr]),
        "non_zrr": scope([site for site in ordered if not site.zrr]),
    }


# --- The test -----------------------------------------------------------------------------------


def members_csv(members: list[MemberPlan]) -> str:
    rows = ["member_id,last_name,first_name,email,category,pass_since,pass_until,badges"]
    for m in members:
        since = m.pass_since.isoformat() if m.pass_since else ""
        until = m.pass_until.isoformat() if m.pass_until else ""
        rows.append(f"{m.id},Nom{m.id},Prénom,,{m.category},{since},{until},{';'.join(m.badges)}")
    return "\n".join(rows) + "\n"


@pytest.fixture(scope="module")
def traffic() -> tuple[Traffic, Delivery]:
    year = Generator(SEED).run()
    return year, deliver(year, random.Random(SEED + 1))


def answer(response: TestResponse) -> Any:
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def post(client: FlaskClient, path: str, body: str) -> Any:
    return answer(
        client.post(f"/api/v1/{path}", data=body, headers={"Authorization": f"Bearer {TOKEN}"})
    )


def get(client: FlaskClient, path: str, **params: str) -> Any:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    return answer(client.get(f"/api/v1/{path}", query_string=params, headers=headers))


def test_the_plan_looks_like_the_cantal_network(traffic: tuple[Traffic, Delivery]) -> None:
    """The generator itself: the year is of the size of the 2013 evaluation, and every
    kind of traffic the rules care about is in it (else the year test would prove less)."""
    year, delivery = traffic
    expected = expected_evaluation(year)
    assert expected["positions"] == {"total": 58, "office": 34, "open_space": 24}
    assert expected["cost_per_position"] == 934.0
    assert 150 <= expected["users"] <= 214
    assert 90 <= expected["pass_members"] <= 111
    assert 0.2 <= expected["occupancy_rate"] <= 0.5
    autos = [s for s in year.stays if s.auto_closed]
    assert len(autos) > 100
    assert any(s.end - s.start > timedelta(hours=11) for s in autos)  # max_session_h ones
    assert any(t.access == "denied" for t in year.taps)
    assert delivery.duplicates > 100 and delivery.bad == 3


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)
def test_a_year_of_traffic_gives_back_the_planned_evaluation(
    sessions: sessionmaker[Session], traffic: tuple[Traffic, Delivery]
) -> None:
    year, delivery = traffic
    # The whole year is imported at once, whenever the test runs: no tap is quarantined for
    # its distance to its receipt (docs/rules.md, Quarantine).
    presence = Presence(
        clock=lambda: NOW, future_tolerance_s=100 * 365 * 86400, events_retention_days=100 * 365
    )
    app = create_app(
        HubConfig(api_tokens={TOKEN: "department"}),
        sessionmaker=sessions,
        presence_hooks=[presence.apply],
        clock=lambda: NOW,
    )
    client = app.test_client()
    assert post(client, "sites/import", sites_yaml())["created"] == len(SITES)
    assert post(client, "members/import", members_csv(year.members))["created"] == len(year.members)

    accepted = duplicates = rejected = 0
    chunk = 4000
    for first in range(0, len(delivery.lines), chunk):
        body = "\n".join(delivery.lines[first : first + chunk]) + "\n"
        result = post(client, "events/import", body)
        accepted += result["accepted"]
        duplicates += result["duplicates"]
        rejected += len(result["rejected"])
    assert (accepted, duplicates, rejected) == (delivery.unique, delivery.duplicates, delivery.bad)

    # The sessions themselves first: a wrong figure below is easier to explain with these.
    listed = get(
        client, "sessions", **{"from": "2025-12-01", "to": "2027-01-31", "limit": "100000"}
    )
    got = sorted(
        (
            s["member_id"],
            s["site"],
            datetime.fromisoformat(s["start"]),
            s["end"] and datetime.fromisoformat(s["end"]),
            s["auto_closed"],
        )
        for s in listed["sessions"]
    )
    want = sorted((s.member, s.site, s.start, s.end, s.auto_closed) for s in year.stays)
    missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
    assert not missing and not extra, f"missing {missing[:5]}, unexpected {extra[:5]}"
    assert len(got) == len(want)

    evaluation = get(client, "evaluation", **{"from": "2026-01-01", "to": "2026-12-31"})
    expected = expected_evaluation(year)
    for key in expected:
        if key != "by_site":
            assert evaluation[key] == expected[key], key
    for got_site, want_site in zip(evaluation["by_site"], expected["by_site"], strict=True):
        assert got_site == want_site, want_site["site"]
    assert evaluation == expected
