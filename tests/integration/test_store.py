"""The store on both databases: migrations, the schema they build, and what SQLite is set to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select

from hub.store import make_engine, make_sessionmaker, migrate
from hub.store.migrations import HEAD, alembic_config
from hub.store.models import AuditEntry, Base


def test_the_migrations_form_one_chain() -> None:
    """Branches each adding a migration must be chained when merged: two heads would leave
    `migrate` unable to choose."""
    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(scripts.get_heads()) == 1, scripts.get_heads()


def test_the_head_the_code_knows_is_the_scripts_head() -> None:
    """`migrate` skips Alembic for a database at `HEAD`: a newer script must move it too."""
    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert scripts.get_heads() == [HEAD]


def test_migrating_an_empty_database_builds_the_schema_of_the_models(db_url: str) -> None:
    [head] = ScriptDirectory.from_config(alembic_config(db_url)).get_heads()
    migrate(db_url)
    migrate(db_url)  # already at head: nothing to do, no error
    engine = make_engine(db_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
        assert context.get_current_revision() == head
        assert set(inspect(connection).get_table_names()) >= set(Base.metadata.tables)
    engine.dispose()


def test_a_database_behind_the_head_is_still_upgraded(db_url: str) -> None:
    """The shortcut for a database at `HEAD` must not take an older one for done."""
    script = ScriptDirectory.from_config(alembic_config(db_url)).get_revision(HEAD)
    assert script is not None and isinstance(script.down_revision, str)
    previous = script.down_revision
    migrate(db_url, previous)
    migrate(db_url)
    engine = make_engine(db_url)
    with engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == HEAD
    engine.dispose()


def test_times_come_back_as_aware_utc(db_url: str) -> None:
    migrate(db_url)
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    paris_winter = timezone(timedelta(hours=1))
    with sessions.begin() as session:
        session.add(
            AuditEntry(
                actor="test", action="probe", at=datetime(2026, 11, 22, 9, 0, tzinfo=paris_winter)
            )
        )
    with sessions() as session:
        at = session.scalars(select(AuditEntry.at)).one()
    assert at == datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
    assert at.utcoffset() == timedelta(0)
    engine.dispose()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/state/hub.db")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    engine.dispose()
