"""The plain data the rules work on: no behaviour beyond checks and derived values.

Instants are aware `datetime`s; money is `Decimal`; hours are `Decimal` hours rounded to
`HOURS_QUANTUM` only when a figure is reported, so sums are made on exact `timedelta`s.

Durations and orderings are always on real time: Python subtracts and compares two datetimes
that share a tzinfo object on the wall clock (a 22:00-06:00 night across 2026-10-25 in
Europe/Paris would count 8 h instead of 9 h), so `utc`, `elapsed` and `later` go through UTC.

>>> site = SiteRules(id="murat", opening=weekly_opening({"mon": ["08:30-12:00"]}))
>>> site.opening["mon"]
((datetime.time(8, 30), datetime.time(12, 0)),)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import cached_property
from typing import Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from telecentre.wire import parse_time_range

Direction = Literal["in", "out", "toggle"]
Category = Literal["independent", "employee", "mobile", "other"]
RateKind = Literal["public", "pass", "free"]
LineRate = Literal["public", "pass", "free", "mixed"]

#: Weekday keys in `date.weekday()` order, as in the sites YAML.
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

#: Reported hours are rounded to 1/10000 h (0.36 s): finer than any tap clock, short to read.
HOURS_QUANTUM = Decimal("0.0001")
CENT = Decimal("0.01")

OpeningRange = tuple[time, time]
WeeklyOpening = Mapping[str, tuple[OpeningRange, ...]]


def utc(instant: datetime) -> datetime:
    """The same instant in UTC, where ordering and arithmetic follow real time (itself if it
    is in UTC already: the presence engine asks hundreds of thousands of times an import)."""
    return instant if instant.tzinfo is UTC else instant.astimezone(UTC)


def elapsed(start: datetime, end: datetime) -> timedelta:
    """Real time between two aware instants, whatever their zones (see module docstring)."""
    return utc(end) - utc(start)


def later(start: datetime, duration: timedelta, zone: ZoneInfo) -> datetime:
    """The instant `duration` of real time after `start`, expressed in `zone`."""
    return (utc(start) + duration).astimezone(zone)


def to_hours(duration: timedelta) -> Decimal:
    """Hours of a duration, rounded half up to `HOURS_QUANTUM` for reporting."""
    return hours_of_us(duration // timedelta(microseconds=1))


_HOUR_US = Decimal(3_600_000_000)


def hours_of_us(microseconds: int) -> Decimal:
    """`to_hours` of a number of microseconds: what the evaluation's sums are kept in."""
    return (Decimal(microseconds) / _HOUR_US).quantize(HOURS_QUANTUM, rounding=ROUND_HALF_UP)


def to_cents(amount: Decimal) -> Decimal:
    """Money rounded to the cent, half up, as RULES.md asks (not Python's half-even)."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def _parse_time(value: str | time) -> time:
    return value if isinstance(value, time) else time.fromisoformat(value)


def weekly_opening(
    spec: Mapping[str, Iterable[str | tuple[str | time, str | time]]],
) -> dict[str, tuple[OpeningRange, ...]]:
    """Opening hours from the sites YAML shape, so adapters need no parsing of their own.

    Each range is "HH:MM-HH:MM" or a (start, end) pair of "HH:MM" strings or `time`s; days
    not listed are closed.

    >>> weekly_opening({"tue": ["08:30-12:00", ("13:30", "17:00")]})["tue"][1]
    (datetime.time(13, 30), datetime.time(17, 0))
    """
    opening: dict[str, tuple[OpeningRange, ...]] = {}
    for day, ranges in spec.items():
        parsed: list[OpeningRange] = []
        for item in ranges:
            if isinstance(item, str):
                parsed.append(parse_time_range(item))
            else:
                start, end = item
                parsed.append((_parse_time(start), _parse_time(end)))
        opening[day] = tuple(sorted(parsed))
    return opening


@dataclass(frozen=True)
class RateSet:
    """One tariff (`public` or `pass`); a cap of None means no cap."""

    hourly: Decimal
    daily_cap: Decimal | None = None
    monthly_cap: Decimal | None = None

    def __post_init__(self) -> None:
        for name in ("hourly", "daily_cap", "monthly_cap"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must not be negative, got {value}")


@dataclass(frozen=True)
class Positions:
    """Work places of a site; meeting rooms are not positions, so they have no field."""

    office: int = 0
    open_space: int = 0

    def __post_init__(self) -> None:
        if self.office < 0 or self.open_space < 0:
            raise ValueError(f"positions must not be negative, got {self}")

    @property
    def total(self) -> int:
        return self.office + self.open_space

    def __add__(self, other: Positions) -> Positions:
        return Positions(self.office + other.office, self.open_space + other.open_space)


FREE_OF_CHARGE = RateSet(hourly=Decimal(0))


@dataclass(frozen=True)
class SiteRules:
    """What the rules need to know about a site (a subset of the sites YAML).

    `opening` maps "mon".."sun" to sorted, non-overlapping (start, end) local times; build it
    with `weekly_opening`. A range cannot cross midnight: a site open late closes at 23:59.
    """

    id: str
    timezone: str = "Europe/Paris"
    opening: WeeklyOpening = field(default_factory=dict)
    open_on_public_holidays: bool = False
    closed: frozenset[date] = frozenset()
    positions: Positions = Positions()
    public: RateSet = FREE_OF_CHARGE
    pass_: RateSet = FREE_OF_CHARGE
    rounding_min: int = 15
    annual_cost_eur: Decimal | None = None
    zrr: bool = False
    #: `calendar.closing_time` by local day, which the presence rules ask for every session:
    #: worked out once per day for these (immutable) rules. Not part of the site's value.
    closing_times: dict[date, datetime | None] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"site {self.id}: unknown timezone {self.timezone!r}") from error
        for day, ranges in self.opening.items():
            if day not in WEEKDAYS:
                raise ValueError(f"site {self.id}: opening day {day!r} is not one of {WEEKDAYS}")
            previous_end: time | None = None
            for start, end in ranges:
                if not start < end:
                    raise ValueError(f"site {self.id}: {day} range {start}-{end} is empty")
                if previous_end is not None and start < previous_end:
                    raise ValueError(f"site {self.id}: {day} ranges overlap or are unsorted")
                previous_end = end
        if self.rounding_min <= 0:
            raise ValueError(f"site {self.id}: rounding_min must be positive")

    @cached_property
    def zone(self) -> ZoneInfo:
        # Cached: the rules convert instants to the site's zone for every tap and session.
        return ZoneInfo(self.timezone)

    def local_date(self, instant: datetime) -> date:
        """The site's calendar day of an instant: what rule 5 files a session under."""
        return instant.astimezone(self.zone).date()


def _require_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got {value!r}")


#: `Direction`'s values as a set: taps are checked by the ten thousand in the hub's ingest.
_DIRECTIONS = frozenset(get_args(Direction))
#: `Category`'s values as a set: a national network's members are made by the ten thousand.
_CATEGORIES = frozenset(get_args(Category))


@dataclass(frozen=True)
class Tap:
    """A counted badge tap (rule 1 already applied: granted, badge assigned to a member)."""

    event_id: str
    member_id: str
    site: str
    ts: datetime
    direction: Direction = "toggle"

    def __post_init__(self) -> None:
        _require_aware("ts", self.ts)
        if self.direction not in _DIRECTIONS:
            raise ValueError(f"direction must be in/out/toggle, got {self.direction!r}")


@dataclass(frozen=True)
class Session:
    """One member's stay at one site; `end` is None while it is still open."""

    member_id: str
    site: str
    start: datetime
    end: datetime | None = None
    auto_closed: bool = False

    def __post_init__(self) -> None:
        _require_aware("start", self.start)
        if self.end is not None:
            _require_aware("end", self.end)
            if elapsed(self.start, self.end) < timedelta(0):
                raise ValueError(f"session ends before it starts: {self.start} > {self.end}")
        elif self.auto_closed:
            raise ValueError("an open session cannot be auto-closed")

    @property
    def duration(self) -> timedelta | None:
        return None if self.end is None else elapsed(self.start, self.end)


@dataclass(frozen=True)
class Member:
    """A member as the rules see them; a Pass is valid from `pass_since` to `pass_until`
    inclusive, `pass_until` None meaning no end date yet."""

    member_id: str
    category: Category = "other"
    pass_since: date | None = None
    pass_until: date | None = None

    def __post_init__(self) -> None:
        if self.category not in _CATEGORIES:
            raise ValueError(f"member {self.member_id}: unknown category {self.category!r}")
        if self.pass_since is None and self.pass_until is not None:
            raise ValueError(f"member {self.member_id}: pass_until without pass_since")
        if self.pass_since and self.pass_until and self.pass_until < self.pass_since:
            raise ValueError(f"member {self.member_id}: pass_until before pass_since")

    def pass_valid_between(self, first: date, last: date) -> bool:
        """Whether the Pass was valid on at least one day of [first, last]."""
        if self.pass_since is None:
            return False
        return pass_valid_between(self.pass_since, self.pass_until, first, last)


def pass_valid_between(since: date, until: date | None, first: date, last: date) -> bool:
    """Whether a Pass valid from `since` to `until` (None: no end yet) was valid on at least
    one day of [first, last]."""
    return since <= last and (until is None or until >= first)


@dataclass(frozen=True)
class Roster:
    """The members as the evaluation and its charts read them: each one's category and
    Pass. A national network's tens of thousands of members are read for every evaluation,
    so a report reads these as plain columns, not as `Member`s."""

    #: Member id → category.
    category_of: Mapping[str, str]
    #: Member id → (pass_since, pass_until) of the members who have a Pass.
    passes: Mapping[str, tuple[date, date | None]]

    def holders(self, first: date, last: date) -> set[str]:
        """The members whose Pass was valid on at least one day of [first, last]."""
        return {
            member_id
            for member_id, (since, until) in self.passes.items()
            if pass_valid_between(since, until, first, last)
        }

    def holds_pass(self, member_id: str, first: date, last: date) -> bool:
        spell = self.passes.get(member_id)
        return spell is not None and pass_valid_between(*spell, first, last)


@dataclass(frozen=True)
class InvoiceLine:
    """What one member owes one site for one month ("YYYY-MM").

    `hours` is all usage, `free_hours` the part in the free first six months of a Pass,
    `billed_hours` the rounded-up time of the charged sessions (caps may make the amount
    smaller than billed_hours × hourly).
    """

    member_id: str
    site: str
    month: str
    hours: Decimal
    free_hours: Decimal
    billed_hours: Decimal
    rate: LineRate
    amount_eur: Decimal


@dataclass(frozen=True)
class CategoryCounts:
    """Users per member category; `unknown` counts pseudonymised or unlisted members, so the
    fields always add up to the number of users."""

    independent: int = 0
    employee: int = 0
    mobile: int = 0
    other: int = 0
    unknown: int = 0


@dataclass(frozen=True)
class Figures:
    """The evaluation figures of RULES.md for one scope (all sites, one site, ZRR or not)."""

    sites: int
    positions: Positions
    users: int
    users_by_category: CategoryCounts
    hours: Decimal
    available_hours: Decimal
    occupancy_rate: Decimal | None
    pass_members: int
    cost_per_position: Decimal | None


@dataclass(frozen=True)
class Evaluation:
    """The yearly figures: all sites, each site, and the ZRR / non-ZRR split."""

    first_day: date
    last_day: date
    total: Figures
    by_site: Mapping[str, Figures]
    zrr: Figures
    non_zrr: Figures
