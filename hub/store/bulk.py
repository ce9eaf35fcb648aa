"""Many rows through one statement, without SQLAlchemy's work for each row.

`Connection.execute(statement, rows)` builds every row's parameters through the compiled
statement's generic machinery (a dict per row, each value looked up and converted): for the
tens of thousands of events, sessions and outcomes of an import, more time than the
database takes to write them. Here the statement is compiled once per dialect and set of
keys, each column's converter is taken once, and the driver's `executemany` gets the rows
as it wants them (tuples in order for `?` parameters, dicts for named ones).

Only for statements whose every parameter is given by each row (no SQL expression, no
Python-side default left to fill): inserts of whole rows, updates by key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql.dml import Insert, Update
from sqlalchemy.types import TypeEngine

from hub.store.models import sqlite_time


@dataclass(frozen=True)
class _Compiled:
    sql: str
    #: The rows' keys in the order the SQL takes them, and the converter of each (None: as is).
    keys: tuple[str, ...]
    converters: tuple[Callable[[Any], Any] | None, ...]
    positional: bool


_COMPILED: dict[tuple[Insert | Update, str, tuple[str, ...]], _Compiled] = {}


def _compile(
    connection: Connection, statement: Insert | Update, keys: tuple[str, ...]
) -> _Compiled:
    dialect = connection.dialect
    cache_key = (statement, dialect.name, keys)
    found = _COMPILED.get(cache_key)
    if found is None:
        # An insert's columns are the rows' keys; an update names its parameters itself.
        columns = list(keys) if isinstance(statement, Insert) else None
        compiled = statement.compile(dialect=dialect, column_keys=columns)
        order = tuple(compiled.positiontup or ()) if compiled.positional else keys
        converters = tuple(_converter(compiled.binds[name].type, dialect) for name in order)
        found = _COMPILED[cache_key] = _Compiled(
            compiled.string, order, converters, compiled.positional
        )
    return found


def _converter(type_: TypeEngine[Any], dialect: Dialect) -> Callable[[Any], Any] | None:
    return type_.dialect_impl(dialect).bind_processor(dialect)


def _columns(
    rows: Sequence[Mapping[str, Any]],
    keys: Sequence[str],
    converters: Sequence[Callable[[Any], Any] | None],
) -> list[list[Any]]:
    """The rows' values of `keys`, column by column (one `map` per column costs less than a
    loop per row), each converted; every distinct instant is formatted once for SQLite (a
    file's events share their receipt, a session's end is also its natural end)."""
    columns = []
    # Keyed by zone and fold too: in one zone Python compares wall times, so the two 02:30 of
    # an autumn night in Paris (an hour apart) are equal and would share one text.
    texts: dict[tuple[datetime, Any, int], str | None] = {}
    for key, convert in zip(keys, converters, strict=True):
        values = list(map(itemgetter(key), rows))
        if convert is sqlite_time:
            for index, value in enumerate(values):
                if value is None:
                    continue
                instant = (value, value.tzinfo, value.fold)
                text = texts.get(instant)
                if text is None:
                    text = texts[instant] = sqlite_time(value)
                values[index] = text
        elif convert is not None:
            values = list(map(convert, values))
        columns.append(values)
    return columns


def execute_many(
    connection: Connection, statement: Insert | Update, rows: Sequence[Mapping[str, Any]]
) -> None:
    """`connection.execute(statement, rows)`, faster: every row has the same keys, the
    statement's parameters (column names for an insert, bind parameter names otherwise)."""
    if not rows:
        return
    compiled = _compile(connection, statement, tuple(rows[0]))
    tuples = list(zip(*_columns(rows, compiled.keys, compiled.converters), strict=True))
    parameters: list[Any] = (
        tuples
        if compiled.positional
        else [dict(zip(compiled.keys, t, strict=True)) for t in tuples]
    )
    connection.exec_driver_sql(compiled.sql, parameters)


#: At most this many parameters in one statement: SQLite's limit (PostgreSQL's is higher).
_MAX_PARAMETERS = 32_766
#: Rows per multi-row statement, fewer for rows of many columns.
_ROWS_PER_INSERT = 1000


def _multi_row(
    connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]], tail: str = ""
) -> Iterator[tuple[str, tuple[Any, ...]]]:
    """`INSERT INTO table (keys) VALUES (…), (…), …` and its parameters, for each slice of
    `rows` (every row with the same keys), the values converted column by column as
    `execute_many`'s; `tail` ends each statement."""
    if not rows:
        return
    dialect = connection.dialect
    keys = tuple(rows[0])
    quote = dialect.identifier_preparer.quote
    converters = [_converter(table.c[name].type, dialect) for name in keys]
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    one = "(" + ", ".join([mark] * len(keys)) + ")"
    head = f"INSERT INTO {quote(table.name)} ({', '.join(quote(name) for name in keys)}) VALUES "
    size = min(_ROWS_PER_INSERT, _MAX_PARAMETERS // len(keys))
    for first in range(0, len(rows), size):
        chunk = rows[first : first + size]
        columns = _columns(chunk, keys, converters)
        flat = tuple(value for values in zip(*columns, strict=True) for value in values)
        yield head + ", ".join([one] * len(chunk)) + tail, flat


def insert_rows(
    connection: Connection, statement: Insert, rows: Sequence[Mapping[str, Any]]
) -> None:
    """`execute_many` of an insert of whole rows, on SQLite many rows a statement. For a
    table whose rows fire a trigger (a session marks its report day stale), SQLite keeps a
    statement journal for each statement, to undo it alone: once per row with `executemany`
    (a year's 14,000 sessions wrote 230 MB of temporary file), once per thousand rows here
    (the same sessions stored in two thirds of the time, the trigger's rows alike).
    PostgreSQL's driver takes `executemany` in pages of its own, and a statement of 15,000
    parameters costs it four times the CPU."""
    if connection.dialect.name != "sqlite":
        execute_many(connection, statement, rows)
        return
    for sql, flat in _multi_row(connection, cast(Table, statement.table), rows):
        connection.exec_driver_sql(sql, flat)


def insert_new(connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> set[Any]:
    """Insert the rows whose primary key (one column) is not in `table` yet, the others left
    alone (`INSERT … ON CONFLICT DO NOTHING`, SQLite and PostgreSQL alike, safe between two
    processes); the keys of the rows inserted."""
    if not rows:
        return set()
    [key] = [column.name for column in table.primary_key.columns]
    quote = connection.dialect.identifier_preparer.quote
    tail = f" ON CONFLICT ({quote(key)}) DO NOTHING RETURNING {quote(key)}"
    inserted: set[Any] = set()
    for sql, flat in _multi_row(connection, table, rows, tail):
        inserted.update(connection.exec_driver_sql(sql, flat).scalars())
    return inserted
