"""Invoice lines per member × site × month (RULES.md, Billing).

A session is billed whole under the local day and month of its start (rule 5), at the rate
set of that day; so every session of one day shares one rate set, and the daily cap is that
set's. Choices where RULES.md is silent:
- After `pass_until` (inclusive) the Pass no longer applies: public rates, as for a member
  who never had one. A Pass that ends within its six free months stops being free then too.
- A month that mixes rate sets (a Pass starting, turning paid or ending mid-month) caps each
  set's subtotal with its own `monthly_cap`, then caps the month with the highest cap among
  the charged sets (no cap if one of them has none): a member never pays more in a month
  than a whole month at the dearer cap.
- Caps compare unrounded amounts; the line is rounded to the cent once, at the end.
- Open sessions (end None) are not billed: they will be once closed.
- `billed_hours` is the rounded-up time of the charged sessions only; free sessions appear in
  `hours` and `free_hours`.

>>> add_months(date(2026, 8, 31), 6)
datetime.date(2027, 2, 28)
"""

from __future__ import annotations

import calendar as gregorian
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from decimal import Decimal

from hub.rules.model import (
    InvoiceLine,
    LineRate,
    Member,
    RateKind,
    RateSet,
    Session,
    SiteRules,
    to_cents,
    to_hours,
)
from hub.rules.months import month_key

FREE_MONTHS = 6


def add_months(day: date, months: int) -> date:
    """Calendar months later, the day clamped to the month's length (Aug 31 + 6 = Feb 28)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last_day = gregorian.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last_day))


def last_free_day(pass_since: date, pass_until: date | None) -> date:
    """The last day a Pass's sessions are free (`rate_kind` "free"): the day before its six
    free months are over, or its end if that comes first."""
    last = add_months(pass_since, FREE_MONTHS) - timedelta(days=1)
    return last if pass_until is None else min(last, pass_until)


def free_months_left(pass_since: date, pass_until: date | None, today: date) -> int:
    """Months, counted as a member does ("still 2 months"), from `today` (or the Pass's
    start, if later) to the end of the free period, a started month counting whole; 0 once
    it is over."""
    last = last_free_day(pass_since, pass_until)
    start = max(today, pass_since)
    if start > last:
        return 0
    months = 1
    while add_months(start, months) <= last:
        months += 1
    return months


def rate_kind(member: Member, day: date) -> RateKind:
    """Which rate set applies to a session starting on local `day`."""
    if member.pass_since is None or day < member.pass_since:
        return "public"
    if member.pass_until is not None and day > member.pass_until:
        return "public"
    if day < add_months(member.pass_since, FREE_MONTHS):
        return "free"
    return "pass"


def billed_minutes(duration: timedelta, rounding_min: int) -> int:
    """A session's duration rounded up to the next multiple of `rounding_min` minutes."""
    step = timedelta(minutes=rounding_min)
    return -(-duration // step) * rounding_min


def _capped(amount: Decimal, cap: Decimal | None) -> Decimal:
    return amount if cap is None else min(amount, cap)


def month_of(site: SiteRules, session: Session) -> str:
    """The "YYYY-MM" a session is invoiced under: the site's local month of its start."""
    return month_key(site.local_date(session.start))


def invoice_line(
    member: Member, site: SiteRules, month: str, sessions: Iterable[Session]
) -> InvoiceLine | None:
    """The line of one member at one site for `month` ("YYYY-MM"), None without usage.

    `sessions` may hold other members', sites' and months' sessions: they are skipped.
    """
    rates: dict[RateKind, RateSet] = {"public": site.public, "pass": site.pass_}
    usage = free = timedelta()
    charged_minutes = 0
    day_minutes: dict[date, int] = defaultdict(int)
    day_kind: dict[date, RateKind] = {}
    for session in sessions:
        duration = session.duration
        if duration is None or session.member_id != member.member_id or session.site != site.id:
            continue
        day = site.local_date(session.start)
        if month_key(day) != month:
            continue
        kind = day_kind.setdefault(day, rate_kind(member, day))
        usage += duration
        if kind == "free":
            free += duration
        else:
            minutes = billed_minutes(duration, site.rounding_min)
            charged_minutes += minutes
            day_minutes[day] += minutes
    if not day_kind:
        return None

    subtotals: dict[RateKind, Decimal] = defaultdict(Decimal)
    for day, minutes in day_minutes.items():
        rate_set = rates[day_kind[day]]
        day_amount = rate_set.hourly * minutes / 60
        subtotals[day_kind[day]] += _capped(day_amount, rate_set.daily_cap)
    amount = sum(
        (_capped(subtotal, rates[kind].monthly_cap) for kind, subtotal in subtotals.items()),
        Decimal(0),
    )
    caps = [rates[kind].monthly_cap for kind in subtotals]
    if caps and None not in caps:
        amount = min(amount, max(cap for cap in caps if cap is not None))

    kinds = set(day_kind.values())
    line_rate: LineRate = kinds.pop() if len(kinds) == 1 else "mixed"
    return InvoiceLine(
        member_id=member.member_id,
        site=site.id,
        month=month,
        hours=to_hours(usage),
        free_hours=to_hours(free),
        billed_hours=to_hours(timedelta(minutes=charged_minutes)),
        rate=line_rate,
        amount_eur=to_cents(amount),
    )


def invoice_lines(
    month: str,
    sessions: Iterable[Session],
    members: Mapping[str, Member],
    sites: Mapping[str, SiteRules],
) -> list[InvoiceLine]:
    """Every line of `month`, sorted by site then member.

    Each session's member and site must be in `members` and `sites` (KeyError otherwise):
    billing someone the rules do not know would silently use the wrong rates.
    """
    touched: dict[tuple[str, str], list[Session]] = defaultdict(list)
    for session in sessions:
        site = sites[session.site]
        if session.end is not None and month_of(site, session) == month:
            touched[(session.site, session.member_id)].append(session)
    lines = []
    for (site_id, member_id), own in sorted(touched.items()):
        line = invoice_line(members[member_id], sites[site_id], month, own)
        if line is not None:
            lines.append(line)
    return lines
