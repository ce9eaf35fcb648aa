"""The department's figures (RULES.md, Evaluation), on one week worked out by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from hub.rules.evaluation import evaluate
from hub.rules.model import (
    CategoryCounts,
    Evaluation,
    Figures,
    Positions,
    Roster,
    Session,
    SiteRules,
    weekly_opening,
)
from hub.rules.months import tally

PARIS = ZoneInfo("Europe/Paris")
D = Decimal

# Available, week of Mon 2 - Sun 8 February 2026:
# murat: Mon 7 h + Tue 8.5 h + Wed 7 h = 22.5 h × 9 positions = 202.5 h;
# aurillac: Tue 8.5 h × 4 positions = 34 h; salle: no positions, 0 h.
MURAT = SiteRules(
    "murat",
    opening=weekly_opening(
        {
            "mon": ["08:30-12:00", "13:30-17:00"],
            "tue": ["08:30-17:00"],
            "wed": ["08:30-12:00", "13:30-17:00"],
        }
    ),
    positions=Positions(office=3, open_space=6),
    annual_cost_eur=D(5400),
    zrr=True,
)
AURILLAC = SiteRules(
    "aurillac", opening=weekly_opening({"tue": ["08:30-17:00"]}), positions=Positions(open_space=4)
)
SALLE = SiteRules("salle", opening=weekly_opening({"mon": ["08:30-17:00"]}))  # meeting rooms only

MEMBERS = Roster(
    category_of={
        "m1": "independent",
        "m2": "employee",
        "m3": "mobile",
        "m4": "other",
        "m5": "other",
    },
    passes={
        "m1": (date(2026, 1, 1), None),
        "m3": (date(2025, 1, 1), date(2025, 12, 31)),
        "m4": (date(2026, 2, 8), None),  # valid on the last day, no session
        "m5": (date(2026, 2, 9), None),  # valid only after the period
    },
)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=PARIS)


def stay(member: str, site: str, start: str, end: str | None, auto: bool = False) -> Session:
    return Session(member, site, at(start), at(end) if end else None, auto)


SESSIONS = [
    stay("m1", "murat", "2026-02-02 09:00", "2026-02-02 12:00"),  # 3 h
    stay("m1", "murat", "2026-02-03 09:00", "2026-02-03 17:00", auto=True),  # 8 h
    stay("m2", "murat", "2026-02-02 14:00", "2026-02-02 15:30"),  # 1.5 h
    stay("m2", "aurillac", "2026-02-03 09:00", "2026-02-03 11:00"),  # 2 h
    stay("m3", "aurillac", "2026-02-03 10:00", None),  # open: a user, no hours
    stay("pseudo-7f3a", "murat", "2026-02-04 09:00", "2026-02-04 10:00"),  # 1 h, pseudonymised
    # Outside the period by the local day of their start:
    stay("m1", "murat", "2026-02-09 09:00", "2026-02-09 10:00"),
    stay("m5", "murat", "2026-02-01 23:30", "2026-02-02 00:30"),
    Session(
        "m5",
        "aurillac",
        datetime(2026, 2, 8, 23, 30, tzinfo=UTC),  # 00:30 on Monday 9 in Paris
        datetime(2026, 2, 9, 0, 30, tzinfo=UTC),
    ),
]
FIRST, LAST = date(2026, 2, 2), date(2026, 2, 8)

MURAT_FIGURES = Figures(
    sites=1,
    positions=Positions(office=3, open_space=6),
    users=3,
    users_by_category=CategoryCounts(independent=1, employee=1, unknown=1),
    hours=D("13.5"),  # 3 + 8 + 1.5 + 1
    available_hours=D("202.5"),
    occupancy_rate=D("0.0667"),  # 13.5 / 202.5 = 0.06666…
    pass_members=1,  # m1
    cost_per_position=D("600.00"),  # 5400 / 9
)
AURILLAC_FIGURES = Figures(
    sites=1,
    positions=Positions(open_space=4),
    users=2,
    users_by_category=CategoryCounts(employee=1, mobile=1),
    hours=D("2"),
    available_hours=D("34"),
    occupancy_rate=D("0.0588"),  # 2 / 34 = 0.05882…
    pass_members=0,
    cost_per_position=None,
)
SALLE_FIGURES = Figures(
    sites=0,
    positions=Positions(),
    users=0,
    users_by_category=CategoryCounts(),
    hours=D(0),
    available_hours=D(0),
    occupancy_rate=None,
    pass_members=0,
    cost_per_position=None,
)


def evaluate_stays(
    sites: list[SiteRules],
    members: Roster,
    stays: list[Session],
    first: date,
    last: date,
) -> Evaluation:
    """The figures of the stays, summed up by month as the reports do."""
    summed_up = tally({site.id: site for site in sites}, stays, first, last)
    return evaluate(sites, members, summed_up, first, last)


@pytest.fixture(scope="module")
def week() -> Evaluation:
    return evaluate_stays([SALLE, MURAT, AURILLAC], MEMBERS, SESSIONS, FIRST, LAST)


def test_total(week: Evaluation) -> None:
    assert week.total == Figures(
        sites=2,  # salle has no position
        positions=Positions(office=3, open_space=10),
        users=4,  # m1, m2, m3 (open session), pseudo-7f3a
        users_by_category=CategoryCounts(independent=1, employee=1, mobile=1, unknown=1),
        hours=D("15.5"),  # 13.5 + 2
        available_hours=D("236.5"),  # 202.5 + 34
        occupancy_rate=D("0.0655"),  # 15.5 / 236.5 = 0.06553…
        pass_members=2,  # m1, m4; not m3 (ended before), not m5 (starts after)
        cost_per_position=D("415.38"),  # 5400 / 13 = 415.3846…
    )


def test_by_site(week: Evaluation) -> None:
    assert week.by_site == {
        "aurillac": AURILLAC_FIGURES,
        "murat": MURAT_FIGURES,
        "salle": SALLE_FIGURES,
    }


def test_zrr_split(week: Evaluation) -> None:
    assert week.zrr == MURAT_FIGURES
    assert week.non_zrr == AURILLAC_FIGURES


def test_holidays_reduce_available_hours() -> None:
    # Week of 9-15 November: Mon 7 + Tue 8.5, Wednesday 11 is a holiday; × 9 = 139.5 h.
    got = evaluate_stays([MURAT], Roster({}, {}), [], date(2026, 11, 9), date(2026, 11, 15))
    assert got.total.available_hours == D("139.5")
    assert got.total.occupancy_rate == D(0)
    assert got.total.users == 0


def test_session_at_an_unknown_site_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown site"):
        evaluate_stays([MURAT], MEMBERS, SESSIONS, FIRST, LAST)
