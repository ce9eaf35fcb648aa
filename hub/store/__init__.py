"""The hub's database: tables, connection, migrations."""

from hub.store.db import make_engine, make_sessionmaker
from hub.store.migrations import migrate

__all__ = ["make_engine", "make_sessionmaker", "migrate"]
