from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy.orm import Session, sessionmaker

from deploy.local_broker import LocalBroker
from hub.store import make_engine, make_sessionmaker, migrate
from tests.hub_process import HubProcess
from tests.servers import InfluxDB, Mosquitto, NginxProxy, Postgres, influxql

if TYPE_CHECKING:
    from hub.config import InfluxDb


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A fresh Mosquitto on a free loopback port, stopped at the end of the test."""
    server = Mosquitto(tmp_path / "broker-state")
    server.start()
    yield server
    server.stop()


#: The devices of `production_broker`: two doors at Murat, one at Ydes.
DEVICES = [("murat", "murat-door"), ("murat", "murat-back"), ("ydes", "ydes-door")]


@pytest.fixture
def production_broker(tmp_path: Path) -> Iterator[LocalBroker]:
    """Mosquitto with the configuration of deploy/mosquitto/ as shipped: the device listener
    (TLS, with a CA made for the test), the hub's, their password files and the ACL for
    `DEVICES` and the hub accounts `hub` and `hub-2`."""
    server = LocalBroker(tmp_path / "production-broker", DEVICES, hub_users=("hub", "hub-2"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def hubs() -> Iterator[list[HubProcess]]:
    """The `telecentre-hub` processes a test starts (append them): killed at its end."""
    started: list[HubProcess] = []
    yield started
    for hub in started:
        hub.kill()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """One PostgreSQL cluster for the whole run; tests get their own database from `db_url`."""
    server = Postgres()
    server.start()
    yield server
    server.remove()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, then a PostgreSQL database, for each test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hub.db'}"
        return
    server: Postgres = request.getfixturevalue("postgres")
    url = server.create_database()
    yield url
    server.drop_database(url)


@pytest.fixture(scope="session")
def influxdb_server() -> Iterator[InfluxDB]:
    """One InfluxDB 1.6 for the whole run (tests that stop it start their own)."""
    server = InfluxDB()
    server.start()
    yield server
    server.remove()


@pytest.fixture(scope="session")
def influxdb(influxdb_server: InfluxDB) -> Iterator[str]:
    """The URL of the nginx proxy that gives `influxdb_server` the v2 write endpoint."""
    proxy = NginxProxy(influxdb_server.port)
    proxy.start()
    yield proxy.url
    proxy.remove()


@pytest.fixture
def influxdb_config(influxdb: str) -> Iterator[InfluxDb]:
    """The hub's `influxdb` config for a new, empty database (its `bucket`) behind the proxy."""
    from hub.config import InfluxDb

    bucket = f"test_{uuid.uuid4().hex[:12]}"
    influxql(influxdb, f'CREATE DATABASE "{bucket}"')
    yield InfluxDb(url=influxdb, token="test-token", org="cybercantal", bucket=bucket)
    influxql(influxdb, f'DROP DATABASE "{bucket}"')


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    """A migrated, empty store on `db_url` (SQLite, then PostgreSQL)."""
    migrate(db_url)
    engine = make_engine(db_url)
    yield make_sessionmaker(engine)
    engine.dispose()
