"""`hub.store.bulk.execute_many` and `insert_rows` on both databases: the rows they write
read back exactly as those SQLAlchemy writes (times in any offset, None, booleans, text),
with the same report days marked stale by the sessions' trigger, and updates by key change
only the rows named."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import DateTime, Table, bindparam, delete, insert, select, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session, sessionmaker

from hub.people.imports import import_sites
from hub.rules.model import utc
from hub.store.bulk import execute_many, insert_new, insert_rows
from hub.store.models import EventId, PresenceSession, ReportStale, UtcDateTime, sqlite_time

SESSIONS = cast(Table, PresenceSession.__table__)
SITES = "sites:\n  - {id: murat, name: Murat}\n"


def _row(n: int, start: datetime, end: datetime | None) -> dict[str, Any]:
    return {
        "member_id": None,
        "pseudonym": f"p{n}",
        "site_id": "murat",
        "start": start,
        "end": end,
        "natural_end": end,
        "auto_closed": n % 2 == 0,
        "start_event_id": f"e{n}",
        "end_event_id": None if end is None else f"x{n}",
        "end_reason": None if end is None else "tap",
        "final": False,
        "manual": n % 3 == 0,
    }


def _read(session: Session) -> list[tuple[Any, ...]]:
    columns = [SESSIONS.c[key] for key in _row(0, datetime.now(UTC), None) if key != "member_id"]
    return [tuple(row) for row in session.execute(select(*columns).order_by(SESSIONS.c.pseudonym))]


def test_bulk_rows_read_back_as_sqlalchemy_writes_them(sessions: sessionmaker[Session]) -> None:
    paris = timezone(timedelta(hours=2))
    starts = [
        datetime(2026, 3, 29, 1, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 7, 1, 8, 30, tzinfo=paris),
        datetime(1970, 1, 1, tzinfo=timezone(timedelta(hours=-11))),
        datetime(2999, 12, 31, 23, 59, 59, 1, tzinfo=UTC),
    ]
    rows = [
        _row(n, start, start + timedelta(hours=n) if n else None) for n, start in enumerate(starts)
    ]
    with sessions.begin() as session:
        import_sites(session, SITES)
        session.execute(insert(SESSIONS), rows)
    with sessions.begin() as session:
        by_sqlalchemy = _read(session)
        session.execute(delete(SESSIONS))
        execute_many(session.connection(), insert(SESSIONS), rows)
    with sessions.begin() as session:
        assert _read(session) == by_sqlalchemy
        ids = sorted(session.scalars(select(SESSIONS.c.id)))
        execute_many(
            session.connection(),
            update(SESSIONS)
            .where(SESSIONS.c.id == bindparam("row_id"))
            .values(end=bindparam("new_end"), end_reason=bindparam("new_reason")),
            [{"row_id": ids[0], "new_end": starts[3], "new_reason": "auto"}],
        )
    with sessions() as session:
        after = _read(session)
    assert after[1:] == by_sqlalchemy[1:]
    assert after[0][3] == starts[3] and after[0][8] == "auto"


def test_rows_inserted_many_a_statement_read_back_and_mark_days_as_one_at_a_time(
    sessions: sessionmaker[Session],
) -> None:
    # 2,500 sessions over a hundred days: three statements, a day marked by many of them.
    start = datetime(2026, 1, 5, 7, 0, tzinfo=UTC)
    rows = [
        _row(
            n, start + timedelta(days=n % 100, seconds=n), start + timedelta(days=n % 100, hours=9)
        )
        for n in range(2500)
    ]

    def stored(session: Session) -> tuple[list[tuple[Any, ...]], set[tuple[Any, ...]]]:
        days = session.execute(select(ReportStale.site_id, ReportStale.day))
        return _read(session), {tuple(day) for day in days}

    with sessions.begin() as session:
        import_sites(session, SITES)
        session.execute(delete(ReportStale))
        session.execute(insert(SESSIONS), rows)
    with sessions.begin() as session:
        one_at_a_time = stored(session)
        session.execute(delete(SESSIONS))
        session.execute(delete(ReportStale))
    with sessions.begin() as session:
        insert_rows(session.connection(), insert(SESSIONS), rows)
    with sessions() as session:
        assert stored(session) == one_at_a_time
    assert len(one_at_a_time[0]) == 2500 and len(one_at_a_time[1]) == 100


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        sqlite_time(datetime(2026, 1, 1))


@settings(max_examples=300, deadline=None, database=None)
@given(
    moment=st.datetimes(
        min_value=datetime(1900, 1, 2),
        max_value=datetime(9998, 12, 30),
        # `UTC` itself too: the receipts' and the sessions' zone, formatted without converting.
        timezones=st.just(UTC) | st.timezones(),
    )
)
def test_sqlite_times_are_the_text_sqlite_datetime_writes_and_reads_back(
    moment: datetime,
) -> None:
    dialect = sqlite.dialect()
    in_utc = moment.astimezone(UTC).replace(tzinfo=None)
    write = DateTime().dialect_impl(dialect).bind_processor(dialect)
    read = UtcDateTime().dialect_impl(dialect).result_processor(dialect, None)
    assert write is not None and read is not None

    text = sqlite_time(moment)

    assert text == write(in_utc)
    assert read(text) == moment.astimezone(UTC)  # an aware UTC datetime, the same instant


def test_insert_new_skips_the_keys_already_there_and_says_which_it_inserted(
    sessions: sessionmaker[Session],
) -> None:
    ids = cast(Table, EventId.__table__)
    received = datetime(2026, 5, 4, 10, 0, tzinfo=timezone(timedelta(hours=2)))

    def rows(names: list[str]) -> list[dict[str, Any]]:
        return [
            {"id": n, "device": "murat-door", "seq": i, "received_at": received}
            for i, n in enumerate(names)
        ]

    with sessions.begin() as session:
        assert insert_new(session.connection(), ids, rows(["a", "b"])) == {"a", "b"}
    with sessions.begin() as session:
        many = [f"e{n:05d}" for n in range(2500)]  # more than one statement
        assert insert_new(session.connection(), ids, rows(["b", "c", *many])) == {"c", *many}
    with sessions() as session:
        stored = {i: at for i, at in session.execute(select(ids.c.id, ids.c.received_at))}
    assert len(stored) == 2503 and set(stored.values()) == {received}


def test_the_two_instants_of_a_repeated_local_hour_are_written_apart(
    sessions: sessionmaker[Session],
) -> None:
    """At the autumn change 02:30 in Paris happens twice (fold 0, then 1), and Python finds
    the two equal: a session auto-closed at each, written in one statement, keeps its own."""
    paris = ZoneInfo("Europe/Paris")
    first = datetime(2026, 10, 25, 2, 30, tzinfo=paris)
    second = first.replace(fold=1)
    assert first == second and utc(second) - utc(first) == timedelta(hours=1)
    rows = [
        _row(1, first - timedelta(hours=12), first),
        _row(2, second - timedelta(hours=12), second),
    ]
    with sessions.begin() as session:
        import_sites(session, SITES)
        execute_many(session.connection(), insert(SESSIONS), rows)
    with sessions() as session:
        ends = [row[3] for row in _read(session)]
    assert ends == [utc(first), utc(second)]
