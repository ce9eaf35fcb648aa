"""The evaluation read from stored months (`hub.reports.months`) is the evaluation of every
session, read the plain way: for any history (sites in two zones, members, pseudonymised and
anonymous sessions, open ones, stays across midnight and the change of time), any changes
made after some months were summed up (ends moved, sessions moved, pseudonymised, deleted,
added), refreshed fully, partly or not at all, and any period and selection of sites, on
SQLite and PostgreSQL (whose triggers differ)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from hub.people.imports import import_members, import_sites
from hub.people.sites import load_members, load_sites
from hub.reports import months
from hub.reports.months import refresh, refresh_some
from hub.reports.yearly import yearly
from hub.rules.evaluation import evaluate
from hub.rules.model import Roster
from hub.rules.months import HOUR, SLOTS, MonthTally, Tallies, month_key
from hub.rules.patterns import patterns
from hub.store import make_engine, make_sessionmaker, migrate
from hub.store.models import PresenceSession, ReportMonth, ReportStale, ReportYear

SITES = """\
sites:
  - id: murat
    name: Murat
    zrr: true
    spaces: [{id: plateau, kind: open_space, positions: 3}]
    opening: {mon: ["08:30-12:00", "13:30-17:00"], sat: ["09:00-12:00"]}
  - id: ydes
    name: Ydes
    spaces: [{id: bureau, kind: office, positions: 2}]
    opening: {tue: ["09:00-18:00"]}
  - id: saint-denis
    name: Saint-Denis
    timezone: Indian/Reunion
    spaces: [{id: bureau, kind: office, positions: 1}]
    opening: {wed: ["08:00-12:00"]}
"""
MEMBERS = (
    "member_id,last_name,first_name,email,category,pass_since,pass_until,badges\n"
    "M1,Durand,Anne,,independent,2026-02-10,,\n"
    "M2,Martin,Paul,,employee,,,\n"
    "M3,Roux,Léa,,mobile,2025-12-01,2026-03-02,\n"
    "M4,Vidal,Marc,,other,,,\n"
    # A Pass that never came: the network's Pass members count it, no site's do.
    "M5,Blanc,Jean,,independent,2025-06-01,2026-01-15,\n"
)
SITE_IDS = ("murat", "ydes", "saint-denis")
#: Member id or pseudonym; (None, None) is a session known by its id only.
WHO = [("M1", None), ("M2", None), ("M3", None), ("M4", None), (None, "p-1"), (None, "p-2")]
#: Around three month ends, the change of time (29 March 2026) and a new year.
EARLIEST = datetime(2025, 12, 28, tzinfo=UTC)
SPAN_MIN = 110 * 24 * 60
MICROSECOND = timedelta(microseconds=1)

stays = st.tuples(
    st.sampled_from(SITE_IDS),
    st.sampled_from(WHO),
    st.integers(0, SPAN_MIN),
    st.one_of(st.none(), st.integers(0, 30 * 60)),  # minutes; None: still open
    st.integers(0, 59_999_999),  # microseconds past the minute
)
changes = st.lists(
    st.tuples(
        st.sampled_from(["end", "move", "pseudonymise", "delete", "add"]),
        st.integers(0, 10_000),
        stays,
    ),
    max_size=6,
)
periods = st.tuples(st.integers(0, 115), st.integers(0, 115))
#: Whole calendar years (first, last): read from the stored years (`ReportYear`) when fresh.
whole_years = st.sampled_from([None, (2026, 2026), (2025, 2026)])


def _row(stay: tuple[str, tuple[str | None, str | None], int, int | None, int]) -> PresenceSession:
    site, (member, pseudonym), minutes, length, micro = stay
    start = EARLIEST + timedelta(minutes=minutes, microseconds=micro)
    end = None if length is None else start + timedelta(minutes=length, microseconds=micro % 7)
    return PresenceSession(
        member_id=member, pseudonym=pseudonym, site_id=site, start=start, end=end
    )


def _change(session: Session, kind: str, pick: int, stay: tuple) -> None:  # type: ignore[type-arg]
    rows = session.scalars(select(PresenceSession).order_by(PresenceSession.id)).all()
    if kind == "add" or not rows:
        session.add(_row(stay))
        return
    row = rows[pick % len(rows)]
    other = _row(stay)
    if kind == "end":
        if row.end is not None:
            row.end = row.start + ((other.end or other.start) - other.start)
    elif kind == "move":
        row.start, row.end, row.site_id = other.start, other.end, other.site_id
    elif kind == "pseudonymise":
        row.member_id, row.pseudonym = None, f"p-{pick % 3}"
    else:
        session.delete(row)


def plain_tallies(session: Session, first: date, last: date, sites: list[str]) -> Tallies:
    """Every session of the period, read one by one, each cut at every UTC hour boundary
    (the rule as docs/rules.md says it), summed up by site and month."""
    rules = load_sites(session)
    tallies: Tallies = {}
    users: dict[tuple[str, str], set[str]] = {}
    for row in session.scalars(select(PresenceSession)):
        site = rules[row.site_id]
        day = row.start.astimezone(site.zone).date()
        if row.site_id not in sites or not first <= day <= last:
            continue
        key = (row.site_id, month_key(day))
        month = tallies.setdefault(key, MonthTally(users.setdefault(key, set())))
        users[key].add(row.member_id or row.pseudonym or f"session-{row.id}")
        moment = row.start
        while row.end is not None and moment < row.end:
            piece_end = min(moment.replace(minute=0, second=0, microsecond=0) + HOUR, row.end)
            local = moment.astimezone(site.zone)
            piece = (piece_end - moment) // MICROSECOND
            month.slots[local.weekday() * 24 + local.hour] += piece
            month.used_us += piece
            moment = piece_end
    return tallies


@pytest.fixture
def network(sessions: sessionmaker[Session]) -> Iterator[sessionmaker[Session]]:
    with sessions.begin() as session:
        import_sites(session, SITES)
        import_members(session, MEMBERS)
    yield sessions


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    history=st.lists(stays, max_size=25),
    refreshed=st.sampled_from(["all", "some", "none"]),
    later=changes,
    refreshed_after=st.sampled_from(["all", "some", "none"]),
    period=periods,
    years=whole_years,
    chosen=st.sampled_from([None, ["murat"], ["ydes", "saint-denis"]]),
    marks_read=st.sampled_from([months.MARKS_READ, 2]),
)
def test_the_stored_months_give_the_figures_of_every_session(
    network: sessionmaker[Session],
    history: list[tuple],  # type: ignore[type-arg]
    refreshed: str,
    later: list[tuple],  # type: ignore[type-arg]
    refreshed_after: str,
    period: tuple[int, int],
    years: tuple[int, int] | None,
    chosen: list[str] | None,
    marks_read: int,
) -> None:
    """`marks_read` 2: a report finding more marks than it sorts out reads every month from
    its sessions."""
    with network.begin() as session:
        for table in (PresenceSession, ReportMonth, ReportYear, ReportStale):
            session.execute(delete(table))
        session.add_all(_row(stay) for stay in history)

    def summed_up(how: str) -> None:
        if how == "all":
            refresh(network.begin)
        elif how == "some":
            with network.begin() as session:
                refresh_some(session)

    summed_up(refreshed)
    with network.begin() as session:
        for kind, pick, stay in later:
            _change(session, kind, pick, stay)
            session.flush()
    summed_up(refreshed_after)

    first = EARLIEST.date() + timedelta(days=min(period))
    last = EARLIEST.date() + timedelta(days=max(period))
    if years is not None:
        first, last = date(years[0], 1, 1), date(years[1], 12, 31)
    sorted_out, months.MARKS_READ = months.MARKS_READ, marks_read
    try:
        with network() as session:
            got = yearly(session, first, last, datetime.now(UTC), sites=chosen)
    finally:
        months.MARKS_READ = sorted_out
    with network() as session:
        # The members read the plain way too: `Member`s, not the report's own reader.
        loaded = load_members(session).values()
        members = Roster(
            {member.member_id: member.category for member in loaded},
            {m.member_id: (m.pass_since, m.pass_until) for m in loaded if m.pass_since is not None},
        )
        rules = load_sites(session, chosen)
        sites = sorted(rules)
        network_wide = chosen is None
        for report in (got.current, got.previous):
            begin, end = report.first_day, report.last_day
            plain = plain_tallies(session, begin, end, sites)
            expected = evaluate(rules.values(), members, plain, begin, end, network=network_wide)
            assert report.total == expected.total
            assert report.by_site == expected.by_site
            if report.zrr is not None:
                assert (report.zrr, report.non_zrr) == (expected.zrr, expected.non_zrr)
        plain = plain_tallies(session, first, last, sites)
        assert got.patterns == patterns(
            rules.values(), members, plain, first, last, network=network_wide
        )


def test_a_refresh_stores_the_months_and_clears_the_marks(
    network: sessionmaker[Session],
) -> None:
    """Sessions written mark their days; a refresh stores their months (the neighbours of
    a day near a month's end too) and leaves no mark; a change marks its day again."""
    with network.begin() as session:
        session.add(_row(("murat", ("M1", None), 60 * 24 * 4, 90, 0)))  # 1 January 2026
    with network() as session:
        assert session.scalars(select(ReportStale.day)).all() == [date(2026, 1, 1)]
    assert refresh(network.begin) == 1
    with network() as session:
        assert session.scalars(select(ReportStale.day)).all() == []
        stored = {(row.site_id, row.month): row for row in session.scalars(select(ReportMonth))}
    assert set(stored) == {("murat", "2025-12"), ("murat", "2026-01")}
    assert stored["murat", "2026-01"].users == ["M1"]
    assert stored["murat", "2026-01"].used_us == 90 * 60 * 1_000_000
    assert stored["murat", "2025-12"].used_us == 0
    with network.begin() as session:
        row = session.scalars(select(PresenceSession)).one()
        row.final = True  # not a column the figures read: no mark
    with network() as session:
        assert session.scalars(select(ReportStale.day)).all() == []
    with network.begin() as session:
        session.scalars(select(PresenceSession)).one().member_id = "M2"
    with network() as session:
        assert session.scalars(select(ReportStale.day)).all() == [date(2026, 1, 1)]


def test_a_refresh_stores_the_years_of_its_months(network: sessionmaker[Session]) -> None:
    """A year is kept with its months: who came in it, its time by month; it is summed up
    again with them when a session changes, and a report of the whole year reads it."""
    with network.begin() as session:
        session.add(_row(("murat", ("M1", None), 60 * 24 * 4, 90, 0)))  # 1 January 2026
        session.add(_row(("murat", ("M2", None), 60 * 24 * 40, 30, 0)))  # 6 February 2026
    refresh(network.begin)
    with network() as session:
        stored = session.get_one(ReportYear, ("2026", "murat"))
        assert (stored.timezone, stored.users) == ("Europe/Paris", ["M1", "M2"])
        assert stored.months_us[:3] == [90 * 60 * 1_000_000, 30 * 60 * 1_000_000, 0]
        assert stored.used_us == sum(stored.months_us)
        assert session.get_one(ReportYear, ("2025", "murat")).users == []
    with network.begin() as session:
        session.scalars(
            select(PresenceSession).where(PresenceSession.member_id == "M2")
        ).one().member_id = "M4"
    refresh(network.begin)
    with network() as session:
        assert session.get_one(ReportYear, ("2026", "murat")).users == ["M1", "M4"]
        got = yearly(session, date(2026, 1, 1), date(2026, 12, 31), datetime.now(UTC))
    assert got.current.by_site["murat"].users_by_category.other == 1
    assert got.patterns.month_totals[:2] == [Decimal("1.5"), Decimal("0.5")]


def test_a_report_finding_more_marks_than_it_sorts_out_reads_the_sessions(
    network: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """After an upgrade or a bulk import, before the refresh caught up: stored months that
    changed since are not trusted, however many marks there are."""
    with network.begin() as session:
        session.add_all(
            _row(("murat", ("M1", None), 60 * 24 * (10 + day), 60, 0)) for day in range(3)
        )
    refresh(network.begin)
    with network.begin() as session:
        for row in session.scalars(select(PresenceSession)):
            row.member_id = "M2"
    monkeypatch.setattr(months, "MARKS_READ", 2)
    with network() as session:
        got = yearly(session, date(2026, 1, 1), date(2026, 1, 31), datetime.now(UTC))
    assert got.current.by_site["murat"].users_by_category.employee == 1
    assert got.current.by_site["murat"].users_by_category.independent == 0


def test_the_upgrade_sums_up_the_years_of_the_months_already_stored(db_url: str) -> None:
    """A hub upgraded with its months stored reads whole years stored from the start; a
    year whose months were read in two zones is left to its months."""
    migrate(db_url, "0016")
    engine = make_engine(db_url)
    hour = 3_600_000_000

    def month(key: str, site: str, zone: str, users: list[str], used: int) -> ReportMonth:
        slots = [0] * SLOTS
        slots[9] = used
        return ReportMonth(
            month=key, site_id=site, timezone=zone, used_us=used, users=users, slots=slots
        )

    with make_sessionmaker(engine).begin() as session:
        session.add_all(
            [
                month("2025-12", "murat", "Europe/Paris", ["M1"], hour),
                month("2026-01", "murat", "Europe/Paris", ["M1", "M2"], 2 * hour),
                month("2026-03", "murat", "Europe/Paris", ["p-1"], 0),
                month("2026-01", "ydes", "Europe/Paris", ["M3"], hour),
                month("2026-02", "ydes", "Indian/Reunion", ["M4"], hour),
            ]
        )
    migrate(db_url)
    with make_sessionmaker(engine)() as session:
        years = {(row.year, row.site_id): row for row in session.scalars(select(ReportYear))}
    engine.dispose()
    assert set(years) == {("2025", "murat"), ("2026", "murat")}
    stored = years["2026", "murat"]
    assert (stored.timezone, stored.users, stored.used_us) == (
        "Europe/Paris",
        ["M1", "M2", "p-1"],
        2 * hour,
    )
    assert stored.months_us == [2 * hour] + [0] * 11
    assert stored.slots[9] == 2 * hour and sum(stored.slots) == 2 * hour
