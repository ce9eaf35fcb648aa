"""Invoice lines (RULES.md, Billing); every amount below is worked out by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from hub.rules.billing import add_months, billed_minutes, invoice_line, invoice_lines, rate_kind
from hub.rules.model import InvoiceLine, Member, RateKind, RateSet, Session, SiteRules

PARIS = ZoneInfo("Europe/Paris")
D = Decimal

SITE = SiteRules(
    "murat",
    public=RateSet(hourly=D("3.0"), daily_cap=D("15.0"), monthly_cap=D("150.0")),
    pass_=RateSet(hourly=D("2.0"), daily_cap=D("10.0"), monthly_cap=D("100.0")),
)
UNCAPPED = SiteRules("aurillac", public=RateSet(hourly=D("3.0")), pass_=RateSet(hourly=D(2)))
NO_PASS = Member("m1", "independent")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=PARIS)


def stay(start: str, hours: float, site: str = "murat", member: str = "m1") -> Session:
    begin = at(start)
    return Session(member, site, begin, (begin.astimezone(UTC) + timedelta(hours=hours)))


def line(
    month: str,
    hours: str,
    free: str,
    billed: str,
    rate: str,
    amount: str,
    site: str = "murat",
    member: str = "m1",
) -> InvoiceLine:
    return InvoiceLine(member, site, month, D(hours), D(free), D(billed), rate, D(amount))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2026, 1, 15), 6, date(2026, 7, 15)),
        (date(2026, 8, 31), 6, date(2027, 2, 28)),  # clamped
        (date(2027, 8, 31), 6, date(2028, 2, 29)),  # clamped, leap year
        (date(2026, 7, 31), 6, date(2027, 1, 31)),
        (date(2026, 12, 31), 2, date(2027, 2, 28)),
        (date(2026, 3, 31), 1, date(2026, 4, 30)),
    ],
)
def test_add_months(day: date, months: int, expected: date) -> None:
    assert add_months(day, months) == expected


@pytest.mark.parametrize(
    ("duration", "minutes"),
    [
        (timedelta(0), 0),
        (timedelta(seconds=1), 15),
        (timedelta(minutes=15), 15),  # already a multiple: unchanged
        (timedelta(minutes=15, microseconds=1), 30),
        (timedelta(minutes=44), 45),
        (timedelta(hours=1), 60),
        (timedelta(minutes=70), 75),
    ],
)
def test_billed_minutes_round_up(duration: timedelta, minutes: int) -> None:
    assert billed_minutes(duration, 15) == minutes


def test_billed_minutes_other_rounding() -> None:
    assert billed_minutes(timedelta(minutes=61), 30) == 90
    assert billed_minutes(timedelta(minutes=61), 1) == 61


PASS_SINCE_AUG_31 = Member("m1", "mobile", pass_since=date(2026, 8, 31))


@pytest.mark.parametrize(
    ("member", "day", "expected"),
    [
        (NO_PASS, date(2026, 2, 2), "public"),
        (PASS_SINCE_AUG_31, date(2026, 8, 30), "public"),  # before pass_since
        (PASS_SINCE_AUG_31, date(2026, 8, 31), "free"),
        (PASS_SINCE_AUG_31, date(2027, 2, 27), "free"),  # last free day
        (PASS_SINCE_AUG_31, date(2027, 2, 28), "pass"),  # Aug 31 + 6 months, clamped
        (
            Member("m1", pass_since=date(2025, 1, 1), pass_until=date(2026, 2, 15)),
            date(2026, 2, 15),
            "pass",
        ),
        (
            Member("m1", pass_since=date(2025, 1, 1), pass_until=date(2026, 2, 15)),
            date(2026, 2, 16),
            "public",
        ),
        (
            Member("m1", pass_since=date(2026, 1, 1), pass_until=date(2026, 3, 31)),
            date(2026, 4, 1),
            "public",
        ),
    ],
)
def test_rate_kind(member: Member, day: date, expected: RateKind) -> None:
    assert rate_kind(member, day) == expected


CASES: list[tuple[str, Member, list[Session], str, InvoiceLine | None]] = [
    (
        "70 minutes are billed 75: 1.25 h × 3.00",
        NO_PASS,
        [stay("2026-02-02 09:00", 70 / 60)],
        "2026-02",
        line("2026-02", "1.1667", "0", "1.25", "public", "3.75"),
    ),
    (
        "rounding is per session: 2 × 10 min are billed 2 × 15 min",
        NO_PASS,
        [stay("2026-02-02 09:00", 1 / 6), stay("2026-02-02 14:00", 1 / 6)],
        "2026-02",
        line("2026-02", "0.3333", "0", "0.5", "public", "1.50"),
    ),
    (
        "daily cap: 8 h × 3.00 = 24.00, capped at 15.00",
        NO_PASS,
        [stay("2026-02-02 09:00", 8)],
        "2026-02",
        line("2026-02", "8", "0", "8", "public", "15.00"),
    ),
    (
        "daily cap spans the sessions of a day: 9.00 + 9.00 capped at 15.00",
        NO_PASS,
        [stay("2026-02-02 09:00", 3), stay("2026-02-02 13:00", 3)],
        "2026-02",
        line("2026-02", "6", "0", "6", "public", "15.00"),
    ),
    (
        "daily cap is per day: 9.00 + 9.00 on two days",
        NO_PASS,
        [stay("2026-02-02 09:00", 3), stay("2026-02-03 09:00", 3)],
        "2026-02",
        line("2026-02", "6", "0", "6", "public", "18.00"),
    ),
    (
        "a night session belongs to its start day: Mon 24.00 → 15.00, Tue 9.00",
        NO_PASS,
        [stay("2026-02-02 20:00", 8), stay("2026-02-03 09:00", 3)],
        "2026-02",
        line("2026-02", "11", "0", "11", "public", "24.00"),
    ),
    (
        "monthly cap: 11 capped days × 15.00 = 165.00, capped at 150.00",
        NO_PASS,
        [stay(f"2026-02-{d:02d} 09:00", 8) for d in (2, 3, 4, 5, 6, 9, 10, 11, 12, 13, 16)],
        "2026-02",
        line("2026-02", "88", "0", "88", "public", "150.00"),
    ),
    (
        "first six months of a Pass are free: hours count, amount 0",
        Member("m1", pass_since=date(2026, 2, 1)),
        [stay("2026-02-02 09:00", 2)],
        "2026-02",
        line("2026-02", "2", "2", "0", "free", "0.00"),
    ),
    (
        "after the six free months: pass rates, 1.5 h × 2.00",
        Member("m1", pass_since=date(2025, 6, 1)),
        [stay("2026-02-02 09:00", 1.5)],
        "2026-02",
        line("2026-02", "1.5", "0", "1.5", "pass", "3.00"),
    ),
    (
        "the free boundary: Feb 27 free, Feb 28 at pass rates (Aug 31 + 6 months)",
        PASS_SINCE_AUG_31,
        [stay("2027-02-27 09:00", 2), stay("2027-02-28 09:00", 2)],
        "2027-02",
        line("2027-02", "4", "2", "2", "mixed", "4.00"),
    ),
    (
        "before pass_since: public rates, then free",
        Member("m1", pass_since=date(2026, 2, 10)),
        [stay("2026-02-09 09:00", 1), stay("2026-02-10 09:00", 1)],
        "2026-02",
        line("2026-02", "2", "1", "1", "mixed", "3.00"),
    ),
    (
        "Pass ending mid-month: pass_until included at 2.00, then public at 3.00",
        Member("m1", pass_since=date(2025, 1, 1), pass_until=date(2026, 2, 15)),
        [stay("2026-02-15 09:00", 1), stay("2026-02-16 09:00", 1)],
        "2026-02",
        line("2026-02", "2", "0", "2", "mixed", "5.00"),
    ),
    (
        "mixed month: pass 10 × 10.00 → 100.00, public 10 × 15.00 → 150.00, "
        "the month capped at the higher cap, 150.00",
        Member("m1", pass_since=date(2025, 1, 1), pass_until=date(2026, 3, 13)),
        [stay(f"2026-03-{d:02d} 09:00", 8) for d in (2, 3, 4, 5, 6, 9, 10, 11, 12, 13)]
        + [stay(f"2026-03-{d:02d} 09:00", 8) for d in (16, 17, 18, 19, 20, 23, 24, 25, 26, 27)],
        "2026-03",
        line("2026-03", "160", "0", "160", "mixed", "150.00"),
    ),
    (
        "open sessions are not billed",
        NO_PASS,
        [Session("m1", "murat", at("2026-02-02 09:00"))],
        "2026-02",
        None,
    ),
    (
        "other members, sites and months are skipped",
        NO_PASS,
        [
            stay("2026-02-02 09:00", 1, member="m2"),
            stay("2026-02-02 09:00", 1, site="aurillac"),
            stay("2026-03-02 09:00", 1),
        ],
        "2026-02",
        None,
    ),
]


@pytest.mark.parametrize(
    ("member", "sessions", "month", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_invoice_line(
    member: Member, sessions: list[Session], month: str, expected: InvoiceLine | None
) -> None:
    assert invoice_line(member, SITE, month, sessions) == expected


def test_no_cap_means_no_cap() -> None:
    got = invoice_line(NO_PASS, UNCAPPED, "2026-02", [stay("2026-02-02 09:00", 8, "aurillac")])
    assert got == line("2026-02", "8", "0", "8", "public", "24.00", site="aurillac")


def test_a_night_across_the_autumn_dst_change_is_nine_hours() -> None:
    night = Session("m1", "aurillac", at("2026-10-24 22:00"), at("2026-10-25 06:00"))
    got = invoice_line(NO_PASS, UNCAPPED, "2026-10", [night])
    assert got == line("2026-10", "9", "0", "9", "public", "27.00", site="aurillac")


@pytest.mark.parametrize(
    ("count", "amount"),
    [
        (1, "0.03"),  # 0.025 rounds half up (half-even would give 0.02)
        (2, "0.05"),  # 0.025 + 0.025 rounded once (per session would give 0.06)
        (3, "0.08"),  # 0.075
    ],
)
def test_amount_rounded_half_up_once_per_line(count: int, amount: str) -> None:
    cheap = SiteRules("cheap", public=RateSet(hourly=D("0.10")))
    sessions = [stay(f"2026-02-{2 + i:02d} 09:00", 0.25, "cheap") for i in range(count)]
    got = invoice_line(NO_PASS, cheap, "2026-02", sessions)
    assert got is not None
    assert got.amount_eur == D(amount)


def test_sessions_belong_to_the_local_month_of_their_start() -> None:
    sessions = [
        # 2026-01-31 23:00 in Paris, running into February: January's.
        stay("2026-01-31 23:00", 2),
        # 2026-02-28 23:30 UTC is 2026-03-01 00:30 in Paris: March's.
        Session(
            "m1",
            "aurillac",
            datetime(2026, 2, 28, 23, 30, tzinfo=UTC),
            datetime(2026, 3, 1, 0, 30, tzinfo=UTC),
        ),
    ]
    members = {"m1": NO_PASS}
    sites = {"murat": SITE, "aurillac": UNCAPPED}
    assert invoice_lines("2026-01", sessions, members, sites) == [
        line("2026-01", "2", "0", "2", "public", "6.00")
    ]
    assert invoice_lines("2026-02", sessions, members, sites) == []
    assert invoice_lines("2026-03", sessions, members, sites) == [
        line("2026-03", "1", "0", "1", "public", "3.00", site="aurillac")
    ]


def test_invoice_lines_one_per_member_and_site_sorted() -> None:
    sessions = [
        stay("2026-02-02 09:00", 1, "murat", "m2"),
        stay("2026-02-02 09:00", 1, "murat", "m1"),
        stay("2026-02-03 09:00", 1, "murat", "m1"),
        stay("2026-02-02 09:00", 2, "aurillac", "m1"),
        Session("m3", "murat", at("2026-02-02 09:00")),  # open: no line
    ]
    members = {
        "m1": NO_PASS,
        "m2": Member("m2", pass_since=date(2025, 1, 1)),
        "m3": NO_PASS,
    }
    sites = {"murat": SITE, "aurillac": UNCAPPED}
    assert invoice_lines("2026-02", sessions, members, sites) == [
        line("2026-02", "2", "0", "2", "public", "6.00", site="aurillac"),
        line("2026-02", "2", "0", "2", "public", "6.00"),
        line("2026-02", "1", "0", "1", "pass", "2.00", member="m2"),
    ]


def test_unknown_member_is_an_error() -> None:
    with pytest.raises(KeyError):
        invoice_lines("2026-02", [stay("2026-02-02 09:00", 1)], {}, {"murat": SITE})
