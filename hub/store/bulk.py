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

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.sql.dml import Insert, Update


@dataclass(frozen=True)
class _Compiled:
    sql: str
    #: The rows' keys in the order the SQL takes them, and the converter of each (None: as is).
    keys: tuple[str, ...]
    converters: tuple[Callable[[Any], Any] | None, ...]
    positional: bool


_COMPILED: dict[tuple[Insert | Update, str, tuple[str, ...]], _Compiled] = {}


def _compile(connection: Connection, statement: Insert | Update, keys: tuple[str, ...]) -> _Compiled:
    dialect = connection.dialect
    cache_key = (statement, dialect.name, keys)
    found = _COMPILED.get(cache_key)
    if found is None:
        # An insert's columns are the rows' keys; an update names its parameters itself.
        columns = list(keys) if isinstance(statement, Insert) else None
        compiled = statement.compile(dialect=dialect, column_keys=columns)
        order = tuple(compiled.positiontup or ()) if compiled.positional else keys
        converters = tuple(
            compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in order
        )
        found = _COMPILED[cache_key] = _Compiled(
            compiled.string, order, converters, compiled.positional
        )
    return found


def execute_many(
    connection: Connection, statement: Insert | Update, rows: Sequence[Mapping[str, Any]]
) -> None:
    """`connection.execute(statement, rows)`, faster: every row has the same keys, the
    statement's parameters (column names for an insert, bind parameter names otherwise)."""
    if not rows:
        return
    compiled = _compile(connection, statement, tuple(rows[0]))
    pairs = tuple(zip(compiled.keys, compiled.converters, strict=True))
    converted = [
        tuple(row[key] if convert is None else convert(row[key]) for key, convert in pairs)
        for row in rows
    ]
    parameters: list[Any] = (
        converted
        if compiled.positional
        else [dict(zip(compiled.keys, values, strict=True)) for values in converted]
    )
    connection.exec_driver_sql(compiled.sql, parameters)
