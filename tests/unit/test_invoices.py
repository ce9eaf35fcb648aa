"""Closed months' adjustments, invoice totals and numbering (hub.rules.invoices): every
figure below is worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.rules.invoices import (
    ZERO,
    Adjustment,
    Figures,
    LineNote,
    Recorded,
    Vat,
    adjustments,
    closable_from,
    kind_of,
    line_note,
    next_month,
    number_invoices,
    previous_month,
    reference,
    totals,
)
from hub.rules.model import InvoiceLine

D = Decimal


def line(member: str, site: str, hours: str, amount: str, rate: str = "public") -> InvoiceLine:
    return InvoiceLine(member, site, "2026-11", D(hours), D(0), D(hours), rate, D(amount))  # type: ignore[arg-type]


def recorded(member: str, site: str, hours: str, amount: str) -> Recorded:
    return Recorded(member, site, "2026-11", Figures(D(hours), D(0), D(hours), D(amount)))


def everyone(_member: str) -> bool:
    return True


@pytest.mark.parametrize(
    ("month", "after", "before"),
    [
        ("2026-11", "2026-12", "2026-10"),
        ("2026-12", "2027-01", "2026-11"),
        ("2027-01", "2027-02", "2026-12"),
    ],
)
def test_months_follow_each_other(month: str, after: str, before: str) -> None:
    assert next_month(month) == after
    assert previous_month(month) == before
    assert previous_month(next_month(month)) == month


def test_nothing_changed_means_no_adjustment() -> None:
    lines = [line("m1", "murat", "4", "12.00"), line("m2", "murat", "2", "6.00")]
    stored = [recorded("m1", "murat", "4", "12.00"), recorded("m2", "murat", "2", "6.00")]
    assert adjustments("2026-11", lines, stored, billable=everyone) == []


def test_a_longer_stay_found_later_is_billed_as_the_difference() -> None:
    found = adjustments(
        "2026-11",
        [line("m1", "murat", "5", "15.00")],
        [recorded("m1", "murat", "4", "12.00")],
        billable=everyone,
    )
    assert found == [
        Adjustment("m1", "murat", "2026-11", "public", Figures(D(1), D(0), D(1), D("3.00")))
    ]


def test_earlier_adjustments_count_as_recorded() -> None:
    """Nov was 4 h, a first adjustment added 1 h; today's 5 h is then nothing new."""
    stored = [
        recorded("m1", "murat", "4", "12.00"),
        Recorded("m1", "murat", "2026-11", Figures(D(1), D(0), D(1), D("3.00"))),
        # A line about another month is not this month's record.
        Recorded("m1", "murat", "2026-10", Figures(D(9), D(0), D(9), D("27.00"))),
    ]
    lines = [line("m1", "murat", "5", "15.00")]
    assert adjustments("2026-11", lines, stored, billable=everyone) == []


def test_a_stay_removed_later_is_refunded() -> None:
    found = adjustments("2026-11", [], [recorded("m2", "ydes", "2", "6.00")], billable=everyone)
    assert found == [
        Adjustment("m2", "ydes", "2026-11", "mixed", Figures(D(-2), D(0), D(-2), D("-6.00")))
    ]


def test_members_that_cannot_be_worked_out_are_left_alone() -> None:
    """An erased member's sessions are pseudonymised: their line vanishing is no refund."""
    found = adjustments(
        "2026-11",
        [line("m1", "murat", "5", "15.00")],
        [recorded("m1", "murat", "4", "12.00"), recorded("gone", "murat", "2", "6.00")],
        billable=lambda member: member != "gone",
    )
    assert [a.member_id for a in found] == ["m1"]


@pytest.mark.parametrize(
    ("amounts", "vat", "expected"),
    [
        (["12.00", "3.50"], Vat(), ("15.50", "0.00", "15.50")),
        (["12.00", "3.50"], Vat(D(20)), ("15.50", "3.10", "18.60")),
        # 10.05 × 5.5 % = 0.55275 → 0.55 (half up on the cent, once, on the total)
        (["10.05"], Vat(D("5.5")), ("10.05", "0.55", "10.60")),
        (["0.10", "0.15"], Vat(D(10)), ("0.25", "0.03", "0.28")),  # 0.025 → 0.03, half up
        (["12.00", "-20.00"], Vat(), ("-8.00", "0.00", "-8.00")),
    ],
)
def test_totals(amounts: list[str], vat: Vat, expected: tuple[str, str, str]) -> None:
    result = totals([D(a) for a in amounts], vat)
    assert (str(result.net_eur), str(result.vat_eur), str(result.total_eur)) == expected


def test_a_negative_total_is_a_credit_note() -> None:
    assert kind_of(totals([D("-8.00")], Vat())) == "credit_note"
    assert kind_of(totals([D("8.00")], Vat())) == "invoice"


def test_invoices_are_numbered_per_site_after_the_last_and_skip_nothing_to_pay() -> None:
    charges = [
        ("murat", "m2", D("6.00")),
        ("murat", "m1", D("12.00")),
        ("ydes", "m1", D("0.00")),  # free months of a Pass: no invoice
        ("murat", "m1", D("3.00")),  # an adjustment joins the member's invoice
        ("ydes", "m3", D("-2.00")),  # a refund is a credit note, numbered too
    ]
    names = {"m1": "Anne Durand", "m2": "Paul Martin", "m3": "Léa Roux"}
    numbered = number_invoices(charges, {"murat": 41}, order=names.__getitem__)
    assert [(n.site, n.member_id, n.number, n.lines) for n in numbered] == [
        ("murat", "m1", 42, (1, 3)),
        ("murat", "m2", 43, (0,)),
        ("ydes", "m3", 1, (4,)),
    ]
    assert reference("MURAT", 42) == "MURAT-000042"


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b"]),
            st.sampled_from(["m1", "m2", "m3"]),
            st.integers(-500, 500).map(lambda c: D(c) / 100),
        ),
        max_size=30,
    ),
    st.integers(0, 1000),
)
def test_numbers_follow_on_without_a_gap(
    charges: list[tuple[str, str, Decimal]], last: int
) -> None:
    numbered = number_invoices(charges, {"a": last, "b": last}, order=str)
    for site in ("a", "b"):
        numbers = [n.number for n in numbered if n.site == site]
        assert numbers == list(range(last + 1, last + 1 + len(numbers)))
    # Every charge of an invoiced member × site is on its invoice, once.
    carried = sorted(index for n in numbered for index in n.lines)
    assert len(carried) == len(set(carried))
    for index, (site, member, _amount) in enumerate(charges):
        sums = sum((a for s, m, a in charges if (s, m) == (site, member)), ZERO.amount_eur)
        assert (index in carried) == (sums != 0)


@pytest.mark.parametrize(
    ("hourly", "billed", "free", "amount", "adjustment", "expected"),
    [
        # 6 h at 3 €/h capped at 15 € a day: the line says 18 €.
        ("3", "6", "0", "15.00", False, LineNote(Decimal("18.00"), None)),
        # Hours × rate is the amount: nothing to say.
        ("3", "2", "0", "6.00", False, None),
        # A cent or two, as rounding the hours may leave, is not a cap.
        ("3", "2", "0", "5.98", False, None),
        # A Pass's free months: no rate, the free hours said.
        (None, "0", "3", "0.00", False, LineNote(None, Decimal("3"))),
        # Free hours and a cap on the charged ones, both said.
        ("2", "8", "1.5", "10.00", False, LineNote(Decimal("16.00"), Decimal("1.5"))),
        # A mixed month has no one rate; an adjustment's figures are differences.
        (None, "12", "0", "20.00", False, None),
        ("3", "6", "0", "15.00", True, None),
    ],
)
def test_a_line_note_says_what_hours_times_rate_does_not(
    hourly: str | None,
    billed: str,
    free: str,
    amount: str,
    adjustment: bool,
    expected: LineNote | None,
) -> None:
    note = line_note(
        None if hourly is None else Decimal(hourly),
        Decimal(billed),
        Decimal(free),
        Decimal(amount),
        adjustment=adjustment,
    )
    assert note == expected


@pytest.mark.parametrize(
    ("month", "zones", "from_utc"),
    [
        # Paris midnight, an hour before UTC's (winter) or two (summer).
        ("2026-11", set(), datetime(2026, 11, 30, 23, 0, tzinfo=UTC)),
        ("2026-06", {"Europe/Paris"}, datetime(2026, 6, 30, 22, 0, tzinfo=UTC)),
        ("2026-12", {"Europe/Paris"}, datetime(2026, 12, 31, 23, 0, tzinfo=UTC)),
        # A site in Guyane (UTC-3) ends its month last: the month waits for it.
        ("2026-11", {"Europe/Paris", "America/Cayenne"}, datetime(2026, 12, 1, 3, 0, tzinfo=UTC)),
        # A site east of Paris ends first: Paris still decides.
        ("2026-11", {"Asia/Tokyo"}, datetime(2026, 11, 30, 23, 0, tzinfo=UTC)),
    ],
)
def test_a_month_may_be_closed_once_it_has_ended_in_paris_and_at_every_site(
    month: str, zones: set[str], from_utc: datetime
) -> None:
    assert closable_from(month, zones) == from_utc
