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
from tests.mail_server import MailServer
from tests.servers import InfluxDB, Mosquitto, NginxProxy, Postgres, influxql
from tests.waiting import wait_until

if TYPE_CHECKING:
    from flask import Flask
    from flask.testing import FlaskClient
    from playwright.sync_api import Browser, Page

    from hub.config import InfluxDb
    from hub.service import Hub


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
def mail_server() -> Iterator[MailServer]:
    """A real SMTP server (aiosmtpd) on a free loopback port, what it received in `inbox()`."""
    server = MailServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def production_broker(tmp_path: Path) -> Iterator[LocalBroker]:
    """Mosquitto with the configuration of deploy/mosquitto/ as shipped: the device listener
    (TLS, with a CA made for the test) with the dynamic-security accounts of `DEVICES` and of
    the read-only `hub-watch`, and the hub's listener with the hub accounts `hub` and `hub-2`."""
    server = LocalBroker(
        tmp_path / "production-broker",
        DEVICES,
        hub_users=("hub", "hub-2"),
        watchers=("hub-watch",),
    )
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


# --- the console -----------------------------------------------------------------------------


@pytest.fixture
def console_app(sessions: sessionmaker[Session]) -> Flask:
    """The hub's app (console and API) on the `sessions` store, CSRF checked as in production."""
    from hub.config import HubConfig
    from hub.web.app import create_app

    return create_app(HubConfig(), sessionmaker=sessions)


@pytest.fixture
def console_client(console_app: Flask) -> FlaskClient:
    return console_app.test_client()


@pytest.fixture
def running_hub(tmp_path: Path, broker: Mosquitto) -> Iterator[Hub]:
    """The hub service (`telecentre-hub`) on a real broker and SQLite, its HTTP server on a
    free port (`running_hub.url`), with the demo's sites and members imported."""
    from hub.config import HubConfig
    from hub.people.imports import import_members
    from hub.service import Hub
    from tests.servers import REPO, free_port

    demo = REPO / "deploy" / "demo"
    config = HubConfig.model_validate(
        {
            "state_dir": str(tmp_path / "hub"),
            "mqtt": {"port": broker.port},
            "http": {"port": free_port()},
            "sites_file": str(demo / "sites.yaml"),
        }
    )
    service = Hub(config)
    service.start()
    with service.sessions.begin() as session:
        import_members(session, (demo / "members.csv").read_text(encoding="utf-8"))
    service.publish_access_lists(None)
    wait_until(service.ingest.subscribed.is_set, timeout=15)
    yield service
    service.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright (no browser download)."""
    from playwright.sync_api import sync_playwright

    from tests.console import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context per test, in French, 1280 px wide."""
    context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture(autouse=True, scope="session")
def _quick_password_hashes() -> Iterator[None]:
    """argon2id with its smallest cost in tests: the same code and hash format, without
    the ~100 ms per hash that production's parameters are there to cost."""
    from argon2 import PasswordHasher

    from hub.people import users

    production = users._hasher
    users._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    users._hasher = production
