"""Connecting to the store: one engine per process, sessions from `make_sessionmaker`.

SQLite is the single-machine default and PostgreSQL the choice for several hub processes;
both get the settings the hub relies on here, so callers never branch on the database.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Insert, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from telecentre.private_files import create_private

log = logging.getLogger(__name__)


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the console read while ingest writes. FULL: the hub acknowledges a batch to
    # the broker right after its commit, so a commit must survive a power cut of the hub's
    # host (NORMAL could lose the last ones, and the broker would not send them again).
    # Batching keeps that to one fsync per batch.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # A page cache of up to 32 MiB (the default is 2): the events' indexes (a random id, a
    # time per site, badge and member) are written all over, and an import of a year's
    # taps ran twice as long re-reading their pages from the file.
    cursor.execute("PRAGMA cache_size=-32768")
    cursor.close()


def make_engine(url: str, **options: Any) -> Engine:
    """An engine for `url`; a SQLite file is created 0600 (its WAL then is too), in a folder
    created 0700 if missing: it holds names, e-mails and badge ids."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, **options)
    if parsed.database and parsed.database != ":memory:":
        create_private(Path(parsed.database))
    # Two writers (ingest and the console) wait for each other rather than fail at once.
    engine = create_engine(url, connect_args={"timeout": 30}, **options)
    event.listen(engine, "connect", _tune_sqlite)
    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def insert_ignoring_conflicts(session: Session, entity: type[DeclarativeBase]) -> Insert:
    """`INSERT … ON CONFLICT DO NOTHING` in the session's dialect (SQLite or PostgreSQL)."""
    # Each dialect imported when used: PostgreSQL's brings asyncio and its drivers' modules,
    # 50 ms that a command on SQLite (an import, say) would pay for nothing.
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(entity).on_conflict_do_nothing()
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(entity).on_conflict_do_nothing()


_AFTER_COMMIT = "telecentre.after_commit"


def _run_after_commit(session: Session) -> None:
    if session.get_nested_transaction() is not None:
        return  # a savepoint was released: the data is not durable yet
    for action in session.info.pop(_AFTER_COMMIT, []):
        try:
            action()
        except Exception:
            # The transaction is committed: failing the caller now would make it retry work
            # that is already done.
            log.exception("an action after commit failed")


def _drop_after_commit(session: Session) -> None:
    if session.get_nested_transaction() is None:
        session.info.pop(_AFTER_COMMIT, None)


def after_commit(session: Session, action: Callable[[], None]) -> None:
    """Run `action` once the session's current transaction has committed; forget it if the
    transaction rolls back.

    For what must not leave the process before the data it announces is durable, such as an
    MQTT publication: a hook inside a batch's transaction queues it, whoever commits that
    transaction (the MQTT ingest, a JSON Lines import, a periodic job) sends it.
    """
    if not event.contains(session, "after_commit", _run_after_commit):
        event.listen(session, "after_commit", _run_after_commit)
        event.listen(session, "after_rollback", _drop_after_commit)
    session.info.setdefault(_AFTER_COMMIT, []).append(action)
