"""Closed months, adjustments and invoices (docs/rules.md, Invoices): pure, so every figure
an invoice carries can be checked by a table.

A closed month's lines are records: they never change. When the sessions of a closed month
change later (a manual correction, a late tap, an applied quarantined tap), the month's lines
worked out again differ from what was recorded for it; the difference is an `Adjustment`
carried by the next month closed, naming the month it corrects.

One invoice per member × site (not one per member with a line per site): each site is run
by its own issuer (a commune, an association), with its own numbering and its own treasurer,
and one invoice cannot be issued by two sellers. An invoice holds the member's line of the
month and the adjustments of earlier months at that site.

>>> next_month("2026-12")
'2027-01'
>>> reference("MURAT", 42)
'MURAT-000042'
>>> closable_from("2026-11", {"Europe/Paris"}).isoformat()
'2026-12-01T00:00:00+01:00'
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo

from hub.rules.model import InvoiceLine, LineRate, to_cents

#: The VAT exemption printed when an issuer charges no VAT and says nothing else: the small
#: businesses' franchise (most telecentres are communes or associations under it).
DEFAULT_VAT_EXEMPTION = "TVA non applicable, art. 293 B du CGI"

InvoiceKind = Literal["invoice", "credit_note"]

#: The network's time zone (the Cantal's): a month ends at its midnight, whatever UTC says.
NETWORK_ZONE = "Europe/Paris"


def next_month(month: str) -> str:
    """The "YYYY-MM" after `month`."""
    year, number = (int(part) for part in month.split("-"))
    year, number = (year + 1, 1) if number == 12 else (year, number + 1)
    return f"{year:04d}-{number:02d}"


def closable_from(month: str, zones: Collection[str]) -> datetime:
    """When `month` has ended in the network's time zone and at every site's (`zones`): the
    first moment it may be closed. Closing issues invoices and cannot be undone, so a month
    is never closed while a stay of it can still happen somewhere."""
    year, number = (int(part) for part in next_month(month).split("-"))
    after = date(year, number, 1)
    ends = [datetime.combine(after, time(), ZoneInfo(zone)) for zone in {NETWORK_ZONE, *zones}]
    return max(ends)


def previous_month(month: str) -> str:
    """The "YYYY-MM" before `month`."""
    year, number = (int(part) for part in month.split("-"))
    year, number = (year - 1, 12) if number == 1 else (year, number - 1)
    return f"{year:04d}-{number:02d}"


def reference(prefix: str, number: int) -> str:
    """An invoice's printed number: the issuing site's prefix and its sequence number."""
    return f"{prefix}-{number:06d}"


@dataclass(frozen=True)
class Figures:
    """What a line says, signed: an adjustment's figures are differences."""

    hours: Decimal
    free_hours: Decimal
    billed_hours: Decimal
    amount_eur: Decimal

    def __add__(self, other: Figures) -> Figures:
        return Figures(
            self.hours + other.hours,
            self.free_hours + other.free_hours,
            self.billed_hours + other.billed_hours,
            self.amount_eur + other.amount_eur,
        )

    def __sub__(self, other: Figures) -> Figures:
        return self + Figures(
            -other.hours, -other.free_hours, -other.billed_hours, -other.amount_eur
        )

    @property
    def is_zero(self) -> bool:
        return not (self.hours or self.free_hours or self.billed_hours or self.amount_eur)


ZERO = Figures(Decimal(0), Decimal(0), Decimal(0), Decimal(0))


def figures(line: InvoiceLine) -> Figures:
    return Figures(line.hours, line.free_hours, line.billed_hours, line.amount_eur)


@dataclass(frozen=True)
class Recorded:
    """A stored line about month `about` (its own month, or the month an adjustment
    corrects), as the closed months recorded it."""

    member_id: str
    site: str
    about: str
    figures: Figures


@dataclass(frozen=True)
class Adjustment:
    """What a closed month's line should have been minus what was recorded for it."""

    member_id: str
    site: str
    corrects: str
    rate: LineRate
    figures: Figures


def adjustments(
    month: str,
    recomputed: Iterable[InvoiceLine],
    recorded: Iterable[Recorded],
    *,
    billable: Callable[[str], bool],
) -> list[Adjustment]:
    """The corrections of closed `month`: its lines worked out again from today's sessions
    against every line recorded about it (its own and earlier adjustments).

    Only members for whom `billable` is true are compared: an erased member, or one whose
    sessions were pseudonymised, can no longer be worked out, and their vanished sessions
    are not a correction. Sorted by site then member.
    """
    recorded_sum: dict[tuple[str, str], Figures] = defaultdict(lambda: ZERO)
    for entry in recorded:
        if entry.about == month:
            recorded_sum[(entry.site, entry.member_id)] += entry.figures
    now: dict[tuple[str, str], InvoiceLine] = {
        (line.site, line.member_id): line for line in recomputed if line.month == month
    }
    result = []
    for site, member_id in sorted(set(now) | set(recorded_sum)):
        if not billable(member_id):
            continue
        line = now.get((site, member_id))
        difference = (ZERO if line is None else figures(line)) - recorded_sum[(site, member_id)]
        if not difference.is_zero:
            rate: LineRate = "mixed" if line is None else line.rate
            result.append(Adjustment(member_id, site, month, rate, difference))
    return result


@dataclass(frozen=True)
class LineNote:
    """Why a line's amount is not its hours times its hourly rate, said on the line itself
    (the invoice's footer only says that caps exist)."""

    #: What the billed hours come to at the hourly rate, when caps lowered the amount.
    uncapped_eur: Decimal | None
    #: The free hours (a Pass's first months) counted in the line's hours, if any.
    free_hours: Decimal | None


def line_note(
    hourly_eur: Decimal | None,
    billed_hours: Decimal,
    free_hours: Decimal,
    amount_eur: Decimal,
    *,
    adjustment: bool = False,
) -> LineNote | None:
    """A month's own line's note, None when hours × rate is the amount. No note on an
    adjustment (its figures are differences) nor on a line mixing rates (no one hourly
    rate). A cent or two is what rounding the hours leaves, not a cap.

    >>> line_note(Decimal(3), Decimal("21.75"), Decimal(0), Decimal("58.50"))
    LineNote(uncapped_eur=Decimal('65.25'), free_hours=None)
    >>> line_note(Decimal(3), Decimal("2"), Decimal(0), Decimal("6.00")) is None
    True
    """
    if adjustment:
        return None
    uncapped = None if hourly_eur is None else to_cents(hourly_eur * billed_hours)
    capped = uncapped is not None and uncapped - amount_eur > Decimal("0.02")
    free = free_hours if free_hours > 0 else None
    if not capped and free is None:
        return None
    return LineNote(uncapped if capped else None, free)


@dataclass(frozen=True)
class Vat:
    """An issuer's VAT: a rate in percent, or None with the exemption's mention."""

    rate: Decimal | None = None
    exemption: str = DEFAULT_VAT_EXEMPTION


@dataclass(frozen=True)
class Totals:
    net_eur: Decimal
    vat_eur: Decimal
    total_eur: Decimal


def totals(amounts: Iterable[Decimal], vat: Vat) -> Totals:
    """An invoice's totals: the lines' amounts are before VAT; VAT is worked out once on
    their sum and rounded to the cent, half up (EN 16931 BR-CO-14: the invoice's VAT is
    its rate times its taxable base)."""
    net = to_cents(sum(amounts, Decimal(0)))
    tax = Decimal("0.00") if vat.rate is None else to_cents(net * vat.rate / 100)
    return Totals(net, tax, net + tax)


def kind_of(total: Totals) -> InvoiceKind:
    """A negative total (an adjustment larger than the month's usage) is a credit note."""
    return "credit_note" if total.total_eur < 0 else "invoice"


@dataclass(frozen=True)
class Numbered:
    """One invoice of a close: its site, member, sequence number and the lines it holds
    (indexes into the close's list of charges)."""

    site: str
    member_id: str
    number: int
    lines: tuple[int, ...]


def number_invoices(
    charges: Iterable[tuple[str, str, Decimal]],
    last_numbers: Mapping[str, int],
    order: Callable[[str], str],
) -> list[Numbered]:
    """Group a close's charges `(site, member_id, amount)` into invoices, one per site ×
    member, and number them after each site's `last_numbers` without a gap.

    A member × site whose charges add up to zero (a Pass member's free months, an
    adjustment that undoes nothing) gets no invoice: there is nothing to pay or refund;
    its lines stay on record. Within a site, invoices are numbered in `order(member_id)`
    (the members' names), then id.
    """
    grouped: dict[tuple[str, str], list[int]] = defaultdict(list)
    sums: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for index, (site, member_id, amount) in enumerate(charges):
        grouped[(site, member_id)].append(index)
        sums[(site, member_id)] += amount
    result = []
    counters = dict(last_numbers)
    keys = sorted(grouped, key=lambda key: (key[0], order(key[1]), key[1]))
    for site, member_id in keys:
        if not sums[(site, member_id)]:
            continue
        counters[site] = counters.get(site, 0) + 1
        result.append(Numbered(site, member_id, counters[site], tuple(grouped[(site, member_id)])))
    return result
