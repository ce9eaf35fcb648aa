"""The hub's app on its real waitress (`WebServer`), on SQLite, and the demo's people: what
the tests of its front door (proxy headers, Host) talk to, directly or through the shipped
nginx (`tests.servers.NginxFront`)."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.config import Console, Http, HubConfig
from hub.people.imports import import_members, import_sites
from hub.store import make_engine, make_sessionmaker, migrate
from hub.store.models import MailMessage
from hub.web.app import create_app
from hub.web.body_limits import LARGEST_BODY_BYTES
from hub.web.server import WebServer
from tests.servers import REPO, NginxFront, free_port
from tests.waiting import wait_until

DEMO = REPO / "deploy" / "demo"
#: The department's API token on these hubs.
TOKEN = "department-token-0001"


def exchange(
    connection: http.client.HTTPConnection,
    method: str,
    path: str,
    body: str = "",
    headers: dict[str, str] | None = None,
) -> tuple[int, str, str]:
    """One request on `connection` (a form's `body` if any), then closed: the answer's
    status, text and session cookie (`name=value`, or "")."""
    headers = dict(headers or {})
    if body:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        connection.request(method, path, body=body or None, headers=headers)
        answer = connection.getresponse()
        text = answer.read().decode()
        return answer.status, text, (answer.getheader("Set-Cookie") or "").split(";")[0]
    finally:
        connection.close()


@dataclass(frozen=True)
class WebHub:
    app: Flask
    sessions: sessionmaker[Session]


def add_demo_people(sessions: sessionmaker[Session]) -> None:
    """The demo's sites and members (Élodie Vigier among them)."""
    with sessions.begin() as session:
        import_sites(session, (DEMO / "sites.yaml").read_text("utf-8"))
        import_members(session, (DEMO / "members.csv").read_text("utf-8"))


@contextmanager
def serving(tmp_path: Path, config: HubConfig) -> Iterator[WebHub]:
    """`config`'s hub answering on `config.http`."""
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    migrate(url)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    app = create_app(config, sessionmaker=sessions, mqtt_up=lambda: True)
    web = WebServer(app, config.http, max_body_bytes=LARGEST_BODY_BYTES)
    web.start()
    try:
        yield WebHub(app, sessions)
    finally:
        web.stop()
        engine.dispose()


@dataclass(frozen=True)
class Served:
    nginx: NginxFront
    app: Flask
    sessions: sessionmaker[Session]


@contextmanager
def behind_nginx(tmp_path: Path) -> Iterator[Served]:
    """The hub as deployed: the shipped nginx in front (`http.trusted_proxies: 1`), whose
    address is the hub's public one (`console.public_url`)."""
    http = Http(port=free_port(), threads=4, trusted_proxies=1)
    nginx = NginxFront(http.port)
    console = Console(public_url=nginx.url)
    config = HubConfig(api_tokens={TOKEN: "department"}, http=http, console=console)
    try:
        with serving(tmp_path, config) as hub:
            nginx.start()
            yield Served(nginx, hub.app, hub.sessions)
    finally:
        nginx.remove()


def mailed_bodies(sessions: sessionmaker[Session], address: str, count: int) -> list[str]:
    """The bodies of the mails queued for `address`, once there are `count`: the member
    space writes a link after it has answered (`hub.console.member_space.links`, a second
    or more later, after the requests queued before it)."""

    def bodies() -> list[str]:
        with sessions() as session:
            query = select(MailMessage.body).where(MailMessage.to_address == address)
            return list(session.scalars(query))

    wait_until(lambda: len(bodies()) >= count, timeout=60, message=f"{count} mail(s) to {address}")
    return bodies()
