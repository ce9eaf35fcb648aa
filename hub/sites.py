"""From store rows to the plain data of `hub.rules`: the one place that reads sites and
members for the rules, so the presence engine, the access lists and the reports agree on
what a site's opening hours, positions or tariffs are.

>>> rules = load_sites(session)["murat"]                # doctest: +SKIP
>>> rules.positions.total, rules.opening["mon"]         # doctest: +SKIP
(9, ((datetime.time(8, 30), datetime.time(12, 0)), (datetime.time(13, 30), datetime.time(17, 0))))
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date, time
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.rules.model import (
    FREE_OF_CHARGE,
    Category,
    Member,
    Positions,
    RateSet,
    SiteRules,
    WeeklyOpening,
)
from hub.store import models


def _time(text: str) -> time:
    # The wire format allows a range to end at "24:00"; the rules close such a day at the
    # last instant before midnight, as their model asks.
    return time.max if text == "24:00" else time.fromisoformat(text)


def opening(spec: Mapping[str, list[str]]) -> WeeklyOpening:
    """The stored `{"mon": ["08:30-12:00"]}` as the rules' sorted (start, end) pairs."""
    result: dict[str, tuple[tuple[time, time], ...]] = {}
    for day, ranges in spec.items():
        pairs = (text.split("-", 1) for text in ranges)
        result[day] = tuple(sorted((_time(start), _time(end)) for start, end in pairs))
    return result


def _decimal(value: float | int | None) -> Decimal | None:
    # Through str: 3.1 must be Decimal("3.1"), not the binary float's 3.100000000000000088….
    return None if value is None else Decimal(str(value))


def _rates(spec: Mapping[str, Any] | None) -> RateSet:
    if not spec:
        return FREE_OF_CHARGE
    hourly = _decimal(spec.get("hourly")) or Decimal(0)
    return RateSet(hourly, _decimal(spec.get("daily_cap")), _decimal(spec.get("monthly_cap")))


def site_rules(site: models.Site) -> SiteRules:
    positions = Positions(
        office=sum(s.positions for s in site.spaces if s.kind == "office"),
        open_space=sum(s.positions for s in site.spaces if s.kind == "open_space"),
    )
    return SiteRules(
        id=site.id,
        timezone=site.timezone,
        opening=opening(site.opening),
        open_on_public_holidays=site.open_on_public_holidays,
        closed=frozenset(date.fromisoformat(day) for day in site.closed),
        positions=positions,
        public=_rates(site.tariffs.get("public")),
        pass_=_rates(site.tariffs.get("pass")),
        rounding_min=site.rounding_min,
        annual_cost_eur=_decimal(site.annual_cost_eur),
        zrr=site.zrr,
    )


def load_sites(session: Session, ids: Collection[str] | None = None) -> dict[str, SiteRules]:
    """The rules of the given sites (all when `ids` is None); ids not imported are absent."""
    query = select(models.Site)
    if ids is not None:
        query = query.where(models.Site.id.in_(ids))
    return {site.id: site_rules(site) for site in session.scalars(query)}


def member_rules(member: models.Member) -> Member:
    return Member(
        member_id=member.id,
        category=cast(Category, member.category),
        pass_since=member.pass_since,
        pass_until=member.pass_until,
    )


def load_members(session: Session, ids: Collection[str] | None = None) -> dict[str, Member]:
    """The rules' view of the given members (all when `ids` is None)."""
    query = select(models.Member)
    if ids is not None:
        query = query.where(models.Member.id.in_(ids))
    return {member.id: member_rules(member) for member in session.scalars(query)}
