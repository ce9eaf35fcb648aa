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
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from hub.rules.calendar import available_time
from hub.rules.model import (
    CategoryCounts,
    Evaluation,
    Figures,
    Member,
    Positions,
    Session,
    SiteRules,
    to_cents,
    to_hours,
)

RATE_QUANTUM = Decimal("0.0001")
_MICROSECOND = timedelta(microseconds=1)


def _figures(
    sites: Sequence[SiteRules],
    sessions: Sequence[Session],
    members: Mapping[str, Member],
    pass_members: int,
    first_day: date,
    last_day: date,
) -> Figures:
    positions = sum((site.positions for site in sites), Positions())
    users = {session.member_id for session in sessions}
    categories = {"independent": 0, "employee": 0, "mobile": 0, "other": 0, "unknown": 0}
    for member_id in users:
        member = members.get(member_id)
        categories[member.category if member else "unknown"] += 1
    used = sum((s.duration for s in sessions if s.duration is not None), timedelta())
    available = sum((available_time(site, first_day, last_day) for site in sites), timedelta())
    rate = None
    if available:
        rate = Decimal(used // _MICROSECOND) / Decimal(available // _MICROSECOND)
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
        hours=to_hours(used),
        available_hours=to_hours(available),
        occupancy_rate=rate,
        pass_members=pass_members,
        cost_per_position=cost_per_position,
    )


def evaluate(
    sites: Iterable[SiteRules],
    members: Mapping[str, Member],
    sessions: Iterable[Session],
    first_day: date,
    last_day: date,
) -> Evaluation:
    """The figures for the period [first_day, last_day], both days included.

    Every session's site must be in `sites`: its local day depends on the site's zone.
    """
    all_sites = sorted(sites, key=lambda site: site.id)
    by_id = {site.id: site for site in all_sites}
    in_period: list[Session] = []
    for session in sessions:
        site = by_id.get(session.site)
        if site is None:
            raise ValueError(f"session at unknown site {session.site!r}")
        if first_day <= site.local_date(session.start) <= last_day:
            in_period.append(session)
    holders = {
        member.member_id
        for member in members.values()
        if member.pass_valid_between(first_day, last_day)
    }

    def scope(chosen: list[SiteRules]) -> Figures:
        ids = {site.id for site in chosen}
        own = [session for session in in_period if session.site in ids]
        users_with_pass = len(holders & {session.member_id for session in own})
        return _figures(chosen, own, members, users_with_pass, first_day, last_day)

    total = _figures(all_sites, in_period, members, len(holders), first_day, last_day)
    return Evaluation(
        first_day=first_day,
        last_day=last_day,
        total=total,
        by_site={site.id: scope([site]) for site in all_sites},
        zrr=scope([site for site in all_sites if site.zrr]),
        non_zrr=scope([site for site in all_sites if not site.zrr]),
    )
