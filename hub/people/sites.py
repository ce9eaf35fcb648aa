"""From store rows to the plain data of `hub.rules`: the one place that reads sites and
members for the rules, so the presence engine, the access lists and the reports agree on
what a site's opening hours, positions or tariffs are.

>>> rules = load_sites(session)["murat"]                # doctest: +SKIP
>>> rules.positions.total, rules.opening["mon"]         # doctest: +SKIP
(9, ((datetime.time(8, 30), datetime.time(12, 0)), (datetime.time(13, 30), datetime.time(17, 0))))
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date
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
    weekly_opening,
)
from hub.store import models


def _decimal(value: float | int | None) -> Decimal | None:
    # Through str: 3.1 must be Decimal("3.1"), not the binary float's 3.100000000000000088….
    return None if value is None else Decimal(str(value))


def _rates(spec: Mapping[str, Any] | None) -> RateSet:
    if not spec:
        return FREE_OF_CHARGE
    hourly = _decimal(spec.get("hourly")) or Decimal(0)
    return RateSet(hourly, _decimal(spec.get("daily_cap")), _decimal(spec.get("monthly_cap")))


#: The columns of `sites` that `SiteRules` is made of, in `_Stored.site` order.
_RULE_COLUMNS = (
    models.Site.id,
    models.Site.timezone,
    models.Site.opening,
    models.Site.open_on_public_holidays,
    models.Site.closed,
    models.Site.tariffs,
    models.Site.rounding_min,
    models.Site.annual_cost_eur,
    models.Site.zrr,
)


@dataclass(frozen=True)
class _Stored:
    """Everything stored that a site's `SiteRules` is made of: equal values, equal rules."""

    site: tuple[Any, ...]
    #: `(kind, positions)` of each space, in a fixed order.
    spaces: tuple[tuple[str, int], ...]


def _rules_of(stored: _Stored) -> SiteRules:
    """The rules of one site, from its stored values (`site_rules` of its row)."""
    (id_, timezone, opening_spec, on_holidays, closed, tariffs, rounding_min, cost, zrr) = (
        stored.site
    )
    positions = Positions(
        office=sum(n for kind, n in stored.spaces if kind == "office"),
        open_space=sum(n for kind, n in stored.spaces if kind == "open_space"),
    )
    return SiteRules(
        id=id_,
        timezone=timezone,
        opening=weekly_opening(opening_spec),
        open_on_public_holidays=on_holidays,
        closed=frozenset(date.fromisoformat(day) for day in closed),
        positions=positions,
        public=_rates(tariffs.get("public")),
        pass_=_rates(tariffs.get("pass")),
        rounding_min=rounding_min,
        annual_cost_eur=_decimal(cost),
        zrr=zrr,
    )


def site_rules(site: models.Site) -> SiteRules:
    """The rules of a loaded site row (and its spaces), as `load_sites` makes them."""
    spaces = tuple(sorted((s.kind, s.positions) for s in site.spaces))
    return _rules_of(_Stored(tuple(getattr(site, c.key) for c in _RULE_COLUMNS), spaces))


#: The last rules made for each site id, with the stored values they were made of. Shared by
#: the threads of a process (a race only makes the same rules twice).
_made: dict[str, tuple[_Stored, SiteRules]] = {}


def load_sites(session: Session, ids: Collection[str] | None = None) -> dict[str, SiteRules]:
    """The rules of the given sites (all when `ids` is None); ids not imported are absent.

    Every ingest batch asks, and making `SiteRules` (parsing hours, dates, tariffs, checking
    them) costs far more than reading the few rows they come from. So the rows are read
    every time, in this transaction, and the rules are made again only for a site whose
    stored values differ from those of the rules made last: always what the store says,
    whichever process or path (import, API, shell) changed it.
    """
    stored = _stored_sites(session, ids)
    rules: dict[str, SiteRules] = {}
    for site_id, values in stored.items():
        made = _made.get(site_id)
        if made is None or made[0] != values:
            made = (values, _rules_of(values))
            _made[site_id] = made
        rules[site_id] = made[1]
    return rules


def _stored_sites(session: Session, ids: Collection[str] | None) -> dict[str, _Stored]:
    """What `SiteRules` are made of, by site id: one plain query (sites and their spaces),
    no ORM objects."""
    query = (
        select(*_RULE_COLUMNS, models.Space.kind, models.Space.positions)
        .outerjoin(models.Space)
        .order_by(models.Site.id)
    )
    if ids is not None:
        query = query.where(models.Site.id.in_(ids))
    rows: dict[str, tuple[Any, ...]] = {}
    spaces: dict[str, list[tuple[str, int]]] = {}
    for *site, kind, positions in session.execute(query):
        rows[site[0]] = tuple(site)
        spaces.setdefault(site[0], [])
        if kind is not None:  # a site without spaces has one row, of NULLs
            spaces[site[0]].append((kind, positions))
    return {site_id: _Stored(row, tuple(sorted(spaces[site_id]))) for site_id, row in rows.items()}


def member_rules(member: models.Member) -> Member:
    return Member(
        member_id=member.id,
        category=cast(Category, member.category),
        pass_since=member.pass_since,
        pass_until=member.pass_until,
    )


def load_members(session: Session, ids: Collection[str] | None = None) -> dict[str, Member]:
    """The rules' view of the given members (all when `ids` is None), from the four columns
    the rules read (no ORM objects: a network's thousands of members are read per report)."""
    query = select(
        models.Member.id,
        models.Member.category,
        models.Member.pass_since,
        models.Member.pass_until,
    )
    if ids is not None:
        query = query.where(models.Member.id.in_(ids))
    return {
        id_: Member(
            member_id=id_,
            category=cast(Category, category),
            pass_since=pass_since,
            pass_until=pass_until,
        )
        for id_, category, pass_since, pass_until in session.execute(query)
    }
