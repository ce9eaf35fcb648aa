"""The department's yearly figures (RULES.md, Evaluation), for all sites, each site, and the
ZRR / non-ZRR split (rural revitalisation zones are what the funding is judged on).

A session is in the period when the local day of its start is (rule 5). Choices where
RULES.md is silent:
- `hours` counts closed sessions only (auto-closed ones included): an open session has no
  duration yet, and a figure must not change with the hour it is asked. Open sessions still
  make their member a user.
- Members the rules do not know (pseudonymised after the retention period) count as users in
  `users_by_category.unknown`.
- Overall, `pass_members` counts every member whose Pass was valid on a day of the period;
  for a site or the ZRR split, only those of them who used that scope in the period (a Pass
  is not tied to a site).
- `cost_per_position` divides the known `annual_cost_eur`s by all positions of the scope, as
  RULES.md writes it, whatever the period's length, rounded to the cent; None when no cost is
  known or there is no position.
- `occupancy_rate` is hours / available hours rounded half up to 4 decimals (0.01 %), None
  when nothing was available.

The figures are computed from the period's sessions summed up by site and month
(`hub.rules.months`): a scope's figures (all sites, one site, the ZRR split) are combined
from its sites' months, so the work follows the number of months, not of sessions. Sums of
microseconds are exact, so the order of combining changes nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from hub.rules.calendar import open_time
from hub.rules.model import (
    CategoryCounts,
    Evaluation,
    Figures,
    Positions,
    Roster,
    SiteRules,
    hours_of_us,
    to_cents,
    to_hours,
)
from hub.rules.months import Tallies

RATE_QUANTUM = Decimal("0.0001")
_MICROSECOND = timedelta(microseconds=1)


def _figures(
    sites: Sequence[SiteRules],
    users: Collection[str],
    counted: Mapping[str | None, int],
    used_by_site: Mapping[str, int],
    available_by_site: Mapping[str, timedelta],
    holders: set[str],
    every_holder: bool,
) -> Figures:
    """A scope's figures from its users (`counted`: how many of each category, None for
    members the rules do not know) and its sites' time used (microseconds). `holders` are
    the period's Pass members: all of them count when `every_holder` (the overall figure),
    else those who used it."""
    positions = sum((site.positions for site in sites), Positions())
    categories = {key: counted[key] for key in ("independent", "employee", "mobile", "other")}
    categories["unknown"] = counted[None]
    used_us = sum(used_by_site[site.id] for site in sites)
    available = sum((available_by_site[site.id] for site in sites), timedelta())
    rate = None
    if available:
        rate = Decimal(used_us) / Decimal(available // _MICROSECOND)
        rate = rate.quantize(RATE_QUANTUM, rounding=ROUND_HALF_UP)
    costs = [site.annual_cost_eur for site in sites if site.annual_cost_eur is not None]
    cost_per_position = None
    if costs and positions.total:
        cost_per_position = to_cents(sum(costs, Decimal(0)) / positions.total)
    return Figures(
        sites=sum(1 for site in sites if site.positions.total > 0),
        positions=positions,
        users=len(users),
        users_by_category=CategoryCounts(**categories),
        hours=hours_of_us(used_us),
        available_hours=to_hours(available),
        occupancy_rate=rate,
        pass_members=len(holders) if every_holder else len(holders.intersection(users)),
        cost_per_position=cost_per_position,
    )


def _available(sites: Sequence[SiteRules], first_day: date, last_day: date) -> dict[str, timedelta]:
    """Each site's available position-time; sites sharing a calendar (zone, opening hours,
    closed days) share its open time, so a network of identical sites walks the period once."""
    open_times: dict[object, timedelta] = {}
    available: dict[str, timedelta] = {}
    for site in sites:
        if site.positions.total == 0:
            available[site.id] = timedelta()
            continue
        key = (
            site.timezone,
            tuple(sorted(site.opening.items())),
            site.open_on_public_holidays,
            site.closed,
        )
        if key not in open_times:
            open_times[key] = open_time(site, first_day, last_day)
        available[site.id] = open_times[key] * site.positions.total
    return available


def evaluate(
    sites: Iterable[SiteRules],
    members: Roster,
    tallies: Tallies,
    first_day: date,
    last_day: date,
    *,
    network: bool = True,
) -> Evaluation:
    """The figures for the period [first_day, last_day], both days included, from the
    period's sessions summed up by site and month (`hub.rules.months.tally`).

    Every tally's site must be in `sites`. `network`: `sites` are the whole network, whose
    `pass_members` are every Pass valid in the period; False for a selection of sites, which
    counts only the Pass members who used it (as for one site).
    """
    all_sites = sorted(sites, key=lambda site: site.id)
    parts: dict[str, list[Collection[str]]] = {site.id: [] for site in all_sites}
    used = dict.fromkeys(parts, 0)
    for (site_id, _month), month in tallies.items():
        if site_id not in parts:
            raise ValueError(f"session at unknown site {site_id!r}")
        parts[site_id].append(month.users)
        used[site_id] += month.used_us
    # A site's one tally (a whole year read stored) is its users as they are, each once:
    # never changed below, so not copied.
    users = {
        site_id: sets[0] if len(sets) == 1 else set().union(*sets)
        for site_id, sets in parts.items()
    }
    holders = members.holders(first_day, last_day)
    available = _available(all_sites, first_day, last_day)

    def counted(who: Collection[str]) -> Counter[str | None]:
        # In C: a national network's scopes hold tens of thousands of users.
        return Counter(map(members.category_of.get, who))

    def figures(
        chosen: Sequence[SiteRules],
        who: Collection[str],
        categories: Counter[str | None],
        every_holder: bool = False,
    ) -> Figures:
        return _figures(chosen, who, categories, used, available, holders, every_holder)

    # Each user of the period is counted once in the ZRR and once more in the rest when
    # they used both: the whole network's users are the ZRR's and the rest's who are not.
    zrr_sites = [site for site in all_sites if site.zrr]
    other_sites = [site for site in all_sites if not site.zrr]
    zrr_users = set().union(*(users[site.id] for site in zrr_sites))
    other_users = set().union(*(users[site.id] for site in other_sites))
    zrr_counted, other_counted = counted(zrr_users), counted(other_users)
    only_other = other_users - zrr_users
    return Evaluation(
        first_day=first_day,
        last_day=last_day,
        total=figures(
            all_sites, zrr_users | only_other, zrr_counted + counted(only_other), network
        ),
        by_site={
            site.id: figures([site], users[site.id], counted(users[site.id])) for site in all_sites
        },
        zrr=figures(zrr_sites, zrr_users, zrr_counted),
        non_zrr=figures(other_sites, other_users, other_counted),
    )


# --- Beside the figures: the previous period, the change, the subsidy estimate ---------------


def previous_period(first_day: date, last_day: date) -> tuple[date, date]:
    """The period a report is compared with: the same calendar months one period earlier
    when the period is whole months (a year → the year before, a quarter → the quarter
    before); the same days a year earlier for a year to date (1 January to 7 December);
    else the same number of days just before it."""
    next_day = last_day + timedelta(days=1)
    if first_day.day == 1 and next_day.day == 1:
        months = (next_day.year - first_day.year) * 12 + next_day.month - first_day.month
        start = _month_index(first_day) - months
        return date(start // 12, start % 12 + 1, 1), first_day - timedelta(days=1)
    if (first_day.month, first_day.day) == (1, 1) and last_day.year == first_day.year:
        # Never 29 February here: a period ending then is whole months, handled above.
        return date(first_day.year - 1, 1, 1), last_day.replace(year=last_day.year - 1)
    length = next_day - first_day
    return first_day - length, first_day - timedelta(days=1)


def _month_index(day: date) -> int:
    return day.year * 12 + day.month - 1


def change(now: Decimal | int | None, before: Decimal | int | None) -> Decimal | None:
    """The relative change from `before` to `now` (0.25 for +25 %), to 4 decimals; None when
    there is nothing to compare with (no figure, or zero before)."""
    if now is None or before is None or before == 0:
        return None
    ratio = (Decimal(now) - Decimal(before)) / Decimal(before)
    return ratio.quantize(RATE_QUANTUM, rounding=ROUND_HALF_UP)


#: FNADT's grant per *occupied* telework position (DIACT call for projects, in the seeds):
#: 2,000 € in a rural revitalisation zone (ZRR), 1,500 € elsewhere.
FNADT_PER_POSITION_ZRR = Decimal(2000)
FNADT_PER_POSITION_ELSEWHERE = Decimal(1500)
OCCUPIED_QUANTUM = Decimal("0.1")


def occupied_positions(figures: Figures) -> Decimal:
    """Positions occupied in full-time equivalent (docs/rules.md, "Occupied position"): the
    hours used over the open hours of one position in the period, i.e. the occupancy rate ×
    the positions, never more than the positions, to a tenth."""
    if not figures.available_hours or not figures.positions.total:
        return Decimal(0)
    share = min(figures.hours / figures.available_hours, Decimal(1))
    return (share * figures.positions.total).quantize(OCCUPIED_QUANTUM, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class SubsidyLine:
    """One site's part of the estimate."""

    site: str
    zrr: bool
    positions: int
    occupied: Decimal
    #: Whole occupied positions: the grant pays positions, not fractions of them.
    counted: int
    rate_eur: Decimal
    amount_eur: Decimal


@dataclass(frozen=True)
class Subsidy:
    lines: list[SubsidyLine]
    zrr_eur: Decimal
    non_zrr_eur: Decimal

    @property
    def total_eur(self) -> Decimal:
        return self.zrr_eur + self.non_zrr_eur

    def counted(self, zrr: bool) -> int:
        return sum(line.counted for line in self.lines if line.zrr == zrr)


def subsidy_estimate(sites: Iterable[SiteRules], by_site: Mapping[str, Figures]) -> Subsidy:
    """What the FNADT rates would pay for the period's occupied positions, site by site:
    whole occupied positions (rounded down: an estimate must not promise money) × the rate
    of the site's zone. Sites without a position are left out."""
    lines = []
    for site in sorted(sites, key=lambda site: site.id):
        figures = by_site.get(site.id)
        if figures is None or figures.positions.total == 0:
            continue
        occupied = occupied_positions(figures)
        counted = int(occupied)
        rate = FNADT_PER_POSITION_ZRR if site.zrr else FNADT_PER_POSITION_ELSEWHERE
        lines.append(
            SubsidyLine(
                site.id, site.zrr, figures.positions.total, occupied, counted, rate, rate * counted
            )
        )
    return Subsidy(
        lines,
        zrr_eur=sum((line.amount_eur for line in lines if line.zrr), Decimal(0)),
        non_zrr_eur=sum((line.amount_eur for line in lines if not line.zrr), Decimal(0)),
    )
