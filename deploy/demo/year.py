"""The demo network's members and their working days, the same for the same seed.

Each site has its regulars (a home site, two to five days a week), Pass members come and go
for a few days a year, and mobile workers spend some afternoons at another site after the
drive. A day at a site: arrivals after opening, lunch out and back (or the building's lunch
closure), departures before closing; the odd forgotten check-out (the hub closes the session
at closing time), a double tap, a card nobody enrolled. Members take holidays (summer,
Christmas, a week in spring), sites close on public holidays, and a site never holds more
people than positions. A member is never at two sites at once: one day is one ordered walk.

The same function makes the past (events imported at the demo's first start) and the live
day (badges typed on the simulated doors' readers): a day is drawn from `(seed, day)` only,
so the part of today already imported and the part played live are one day.

>>> sites = network_sites(NETWORK)
>>> crowd = members(sites, seed=7)
>>> taps = day_taps(date(2025, 3, 4), crowd, sites, seed=7)   # sorted by time
>>> events, seqs = past_events(taps, {}, seed=7)               # JSON lines, next seq per door
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
import unicodedata
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Literal

import yaml

from hub.people.imports import COLUMNS
from hub.rules.calendar import opening_intervals
from hub.rules.model import Positions, SiteRules, weekly_opening
from telecentre import wire

NETWORK = Path(__file__).resolve().parent / "network.yaml"

#: How full each site is, on average over its opening hours: drawn per site in this range.
OCCUPANCY = (0.26, 0.42)
#: Share of an open day a regular spends badged in (arrival after opening, lunch, early leave).
STAY_SHARE = 0.9
#: Chance per open day that a regular comes, by kind of regular.
REGULAR_DAYS = (0.9, 0.8, 0.6, 0.5, 0.4)
OCCASIONAL = 150  # Pass members and passers-by who come a few days a year
OCCASIONAL_DAY = 0.015
MOBILE_SHARE = 0.15  # regulars who work some afternoons at another site
ELSEWHERE = 0.25  # chance that a mobile worker goes on to another site after lunch
LUNCH_OUT = 0.45  # chance of going out for lunch where the building stays open
FORGOT_OUT = 0.03  # chance of leaving without badging out
DOUBLE_TAP = 0.02  # chance of presenting the card twice in a few seconds
STRANGER_DAY = 0.08  # chance per site and open day of a card nobody enrolled
READER = "entrance"

LAST_NAMES = [
    "Vigier",
    "Delmas",
    "Rouquier",
    "Lafon",
    "Bouygues",
    "Cabanes",
    "Fabre",
    "Teyssedou",
    "Chabrier",
    "Lacoste",
    "Bruel",
    "Lavergne",
    "Roux",
    "Mazet",
    "Vidal",
    "Boudou",
    "Salat",
    "Pradel",
    "Cayrol",
    "Besson",
    "Laborie",
    "Veyrier",
    "Fau",
    "Delpuech",
    "Chassang",
    "Falguière",
    "Rigal",
    "Lapeyre",
    "Couderc",
    "Andrieu",
    "Bonnet",
    "Cantuel",
    "Chanut",
    "Destruel",
    "Estival",
    "Fournier",
    "Gaillard",
    "Hébrard",
    "Jalenques",
    "Lacombe",
    "Malbec",
    "Raynal",
    "Serre",
    "Trémouille",
    "Vialatte",
    "Aymar",
    "Bastide",
    "Cros",
    "Dauzet",
    "Espinasse",
]
FIRST_NAMES = [
    "Élodie",
    "Pierre",
    "Sandrine",
    "Jean-Marc",
    "Camille",
    "Thierry",
    "Nathalie",
    "Louis",
    "Marie",
    "Julien",
    "Sophie",
    "Nicolas",
    "Claire",
    "Antoine",
    "Laure",
    "Mathieu",
    "Céline",
    "Olivier",
    "Aurélie",
    "Romain",
    "Émilie",
    "Sébastien",
    "Lucie",
    "Guillaume",
    "Anne",
    "Hugo",
    "Chloé",
    "Bastien",
    "Manon",
    "Florian",
    "Agnès",
    "Benoît",
    "Inès",
    "Yannick",
]
#: Members who keep to their home site: freelancers, employees, a few others (associations).
CATEGORIES_AT_HOME = ("independent", "employee", "independent", "employee", "other")

Kind = Literal["member", "double", "stranger"]


@dataclass(frozen=True)
class Site:
    id: str
    device: str
    rules: SiteRules


@dataclass(frozen=True)
class Member:
    member_id: str
    last_name: str
    first_name: str
    category: str
    pass_since: date | None
    pass_until: date | None
    badge: str
    home: str
    #: Chance of coming on one of the home site's open days (holidays apart).
    attendance: float
    mobile: bool


@dataclass(frozen=True)
class Tap:
    """A card on a site's reader: a member's, the same again a moment later, or a stranger's."""

    at: datetime
    site: str
    badge: str
    kind: Kind


def network_sites(path: Path = NETWORK) -> dict[str, Site]:
    """The sites file as the rules read it, each with its door (`<site>-door`)."""
    entries = yaml.safe_load(path.read_text(encoding="utf-8"))["sites"]
    sites = {}
    for entry in entries:
        spaces = entry["spaces"]
        rules = SiteRules(
            id=entry["id"],
            timezone=entry.get("timezone", "Europe/Paris"),
            opening=weekly_opening(entry.get("opening", {})),
            open_on_public_holidays=entry.get("open_on_public_holidays", False),
            closed=frozenset(date.fromisoformat(day) for day in entry.get("closed", [])),
            positions=Positions(
                office=sum(s["positions"] for s in spaces if s["kind"] == "office"),
                open_space=sum(s["positions"] for s in spaces if s["kind"] == "open_space"),
            ),
        )
        sites[entry["id"]] = Site(entry["id"], f"{entry['id']}-door", rules)
    return sites


def _badge(rng: random.Random) -> str:
    return "04" + "".join(f"{rng.randrange(256):02X}" for _ in range(6))


def _pass(rng: random.Random, today: date) -> tuple[date | None, date | None]:
    """Two members in three hold a Pass, for one to three years from a day of the last three."""
    if rng.random() < 1 / 3:
        return None, None
    since = today - timedelta(days=rng.randrange(40, 3 * 365))
    return since, since + timedelta(days=365 * rng.choice((1, 2, 3)) - 1)


def members(sites: dict[str, Site], seed: int, today: date | None = None) -> list[Member]:
    """Each site's regulars, enough to fill it to its drawn occupancy, then the occasional
    members spread over the network. Ids, names and badges depend on the seed only."""
    rng = random.Random(f"members:{seed}")
    today = today or date(2026, 12, 1)
    made: list[Member] = []

    def add(home: str, attendance: float, mobile: bool) -> None:
        number = len(made) + 1
        since, until = _pass(rng, today)
        category = "mobile" if mobile else rng.choice(CATEGORIES_AT_HOME)
        made.append(
            Member(
                member_id=f"M{number:04d}",
                last_name=rng.choice(LAST_NAMES),
                first_name=rng.choice(FIRST_NAMES),
                category=category,
                pass_since=since,
                pass_until=until,
                badge=_badge(rng),
                home=home,
                attendance=attendance,
                mobile=mobile,
            )
        )

    for site in sites.values():
        target = site_occupancy(site.id, seed) * site.rules.positions.total / STAY_SHARE
        filled = 0.0
        while filled < target:
            attendance = rng.choice(REGULAR_DAYS)
            add(site.id, attendance, rng.random() < MOBILE_SHARE)
            filled += attendance
    ids = sorted(sites)
    for _ in range(OCCASIONAL):
        add(rng.choice(ids), OCCASIONAL_DAY, rng.random() < 0.3)
    return made


def site_occupancy(site: str, seed: int) -> float:
    low, high = OCCUPANCY
    return low + (high - low) * random.Random(f"occupancy:{seed}:{site}").random()


STREETS = (
    "rue de la Paix",
    "avenue de la République",
    "chemin des Prés",
    "place du Marché",
    "rue du Château",
    "route de Salers",
    "impasse des Tilleuls",
    "rue de la Gare",
)


def _towns(path: Path = NETWORK) -> dict[str, tuple[str, str]]:
    """Each site's postcode and town, from its issuer's address."""
    entries = yaml.safe_load(path.read_text(encoding="utf-8"))["sites"]
    return {e["id"]: (e["invoicing"]["postcode"], e["invoicing"]["town"]) for e in entries}


def postal_address(member: Member, towns: dict[str, tuple[str, str]]) -> str:
    """A street in their home site's town, for the invoices; one member in eight gave none
    (the close page lists them). A random stream of its own: the crowd and its days stay
    what they were."""
    rng = random.Random(f"address:{member.member_id}")
    if rng.random() < 1 / 8:
        return ""
    postcode, town = towns[member.home]
    return f"{rng.randint(1, 40)} {rng.choice(STREETS)}\n{postcode} {town}"


def members_csv(crowd: Iterable[Member]) -> str:
    """The members file (FORMATS.md "Members") the hub imports, with their addresses."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow((*COLUMNS, "address"))
    towns = _towns()
    for m in crowd:
        email = f"{m.first_name}.{m.last_name}.{m.member_id}@example.org".lower()
        # Accents folded, not dropped: Élodie is elodie.…, not lodie.…
        email = unicodedata.normalize("NFKD", email).encode("ascii", "ignore").decode()
        email = email.replace(" ", "")
        writer.writerow(
            [
                m.member_id,
                m.last_name,
                m.first_name,
                email,
                m.category,
                m.pass_since or "",
                m.pass_until or "",
                m.badge,
                postal_address(m, towns),
            ]
        )
    return out.getvalue()


def _on_holiday(member: Member, day: date, seed: int) -> bool:
    """Two or three weeks in summer, the week of Christmas or the new year, a week in spring."""
    rng = random.Random(f"holidays:{seed}:{member.member_id}:{day.year}")
    summer = rng.randrange(27, 33)
    weeks = {summer, summer + 1, rng.randrange(14, 20), rng.choice((52, 1))}
    if rng.random() < 0.5:
        weeks.add(summer + 2)
    return day.isocalendar().week in weeks


def _minutes(rng: random.Random, low: int, high: int) -> timedelta:
    return timedelta(minutes=rng.randint(low, high))


def _walk(
    member: Member,
    site: Site,
    day: date,
    rng: random.Random,
    elsewhere: Site | None,
) -> list[Tap]:
    """One member's taps of one day at `site` (and, after lunch, at `elsewhere`)."""
    intervals = opening_intervals(site.rules, day)
    opens, closes = intervals[0][0], intervals[-1][1]
    arrive = opens + _minutes(rng, 0, 75)
    leave = closes - _minutes(rng, 0, 80)
    if rng.random() < 0.12:  # a morning only
        leave = min(leave, intervals[0][1] - _minutes(rng, 0, 30))
    if leave - arrive < timedelta(hours=1):
        return []
    stays: list[tuple[Site, datetime, datetime]] = []
    start = arrive
    noon = datetime.combine(day, datetime.min.time(), tzinfo=site.rules.zone) + timedelta(hours=12)
    if len(intervals) > 1 and intervals[0][1] < leave:  # the building closes for lunch
        stays.append((site, start, intervals[0][1] - _minutes(rng, 0, 10)))
        start = intervals[1][0] + _minutes(rng, 0, 20)
    elif rng.random() < LUNCH_OUT and noon + timedelta(hours=1) < leave:
        out = noon + _minutes(rng, 0, 45)
        stays.append((site, start, out))
        start = out + _minutes(rng, 35, 80)
    if elsewhere is not None:
        there = opening_intervals(elsewhere.rules, day)
        out = max(start + timedelta(minutes=30), noon + _minutes(rng, 90, 150))
        arrive_there = out + _minutes(rng, 30, 70)
        if there and arrive_there + timedelta(hours=1) < there[-1][1]:
            stays.append((site, start, out))
            stays.append((elsewhere, arrive_there, there[-1][1] - _minutes(rng, 0, 45)))
            start = leave = arrive_there  # the day ends there
            site = elsewhere
    if start < leave:
        stays.append((site, start, leave))
    taps: list[Tap] = []
    for place, first, last in stays:
        taps.append(Tap(first, place.id, member.badge, "member"))
        if not (place is stays[-1][0] and last == stays[-1][2] and rng.random() < FORGOT_OUT):
            taps.append(Tap(last, place.id, member.badge, "member"))
    doubled = [
        Tap(tap.at + timedelta(seconds=rng.randint(2, 8)), tap.site, tap.badge, "double")
        for tap in taps
        if rng.random() < DOUBLE_TAP
    ]
    return taps + doubled


def day_taps(day: date, crowd: list[Member], sites: dict[str, Site], seed: int) -> list[Tap]:
    """Every tap of one day over the network, in time order; the same for the same seed."""
    rng = random.Random(f"day:{seed}:{day.isoformat()}")
    open_today = {site_id for site_id, site in sites.items() if opening_intervals(site.rules, day)}
    room = {site_id: sites[site_id].rules.positions.total for site_id in open_today}
    taps: list[Tap] = []
    for member in crowd:
        comes = rng.random() < member.attendance
        if not comes or member.home not in open_today or _on_holiday(member, day, seed):
            continue
        if room[member.home] <= 0:
            continue
        room[member.home] -= 1
        elsewhere = None
        if member.mobile and rng.random() < ELSEWHERE:
            others = [s for s in sorted(open_today) if s != member.home and room[s] > 0]
            if others:
                elsewhere = sites[rng.choice(others)]
                room[elsewhere.id] -= 1
        taps += _walk(member, sites[member.home], day, rng, elsewhere)
    for site_id in sorted(open_today):
        if rng.random() < STRANGER_DAY:
            intervals = opening_intervals(sites[site_id].rules, day)
            start, end = intervals[0][0], intervals[-1][1]
            at = start + timedelta(seconds=rng.randrange(int((end - start).total_seconds())))
            taps.append(Tap(at, site_id, _badge(rng), "stranger"))
    return sorted(taps, key=lambda tap: (tap.at, tap.site, tap.badge))


def taps_between(
    first: datetime, last: datetime, crowd: list[Member], sites: dict[str, Site], seed: int
) -> Iterator[Tap]:
    """The network's taps from `first` (included) to `last` (excluded), day after day."""
    day = first.date() - timedelta(days=1)  # a zone ahead of `first`'s starts its day earlier
    while day <= last.date() + timedelta(days=1):
        for tap in day_taps(day, crowd, sites, seed):
            if first <= tap.at < last:
                yield tap
        day += timedelta(days=1)


def past_events(
    taps: Iterable[Tap], next_seq: dict[str, int], seed: int
) -> tuple[list[bytes], dict[str, int]]:
    """The taps as their doors would have sent them (JSON lines, PROTOCOL.md), each door's
    `seq` going on from `next_seq` (1 for a door not in it); the next `seq` of each door.

    A member's card is granted (the doors grant every enrolled member in opening hours), a
    stranger's is refused as `unknown`. An event's id comes from the seed and the tap:
    importing the same taps twice stores them once."""
    seqs = dict(next_seq)
    lines = []
    for tap in taps:
        device = f"{tap.site}-door"
        seq = seqs.get(device, 1)
        seqs[device] = seq + 1
        denied = tap.kind == "stranger"
        event = wire.badge_event(
            site=tap.site, device=device, badge=tap.badge, reader=READER,
            direction="toggle", access="denied" if denied else "granted",
            clock_synced=True, reason="unknown" if denied else None,
        )  # fmt: skip
        stamp = tap.at.isoformat(timespec="milliseconds")
        digest = hashlib.sha256(f"{seed}:{tap.site}:{tap.badge}:{stamp}".encode()).digest()
        event |= {"id": str(uuid.UUID(bytes=digest[:16], version=4)), "ts": stamp}
        event["seq"] = seq
        lines.append(json.dumps(event, separators=(",", ":")).encode())
    return lines, seqs
