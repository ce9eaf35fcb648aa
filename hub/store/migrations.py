"""Bringing a database to the schema of this version of the hub, from the code (no alembic.ini).

Every shell command checks the schema before its job: a database already at `HEAD` is told
so by one query, without Alembic (its import and its reading of the migration scripts cost
more than a small command's own work). Any other version, or none, goes through Alembic."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect, text

from hub.store.db import make_engine

if TYPE_CHECKING:
    from alembic.config import Config

SCRIPT_LOCATION = Path(__file__).resolve().parent.parent / "migrations"

#: The newest revision under hub/migrations/versions. A test compares it with the scripts'
#: head, so a new migration without it fails the suite instead of being skipped here.
HEAD = "0019"


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    # Percent signs in a password would otherwise be read as interpolation by configparser.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def at_head(connection: Connection) -> bool:
    """Whether the database says it is at `HEAD` (and only there)."""
    if not inspect(connection).has_table("alembic_version"):
        return False
    versions = connection.execute(text("SELECT version_num FROM alembic_version")).scalars()
    return list(versions) == [HEAD]


def migrate(url: str, revision: str = "head") -> None:
    """Upgrade the database at `url` to `revision`; a database already there is left as is."""
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            if revision in ("head", HEAD) and at_head(connection):
                return
            from alembic import command

            config = alembic_config(url)
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        engine.dispose()
