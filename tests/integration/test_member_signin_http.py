"""The member sign-in over HTTP, on the real hub (waitress, SQLite, Mosquitto, an aiosmtpd
server): asking a link answers alike for a member's address and a stranger's, the mail
comes after the answer to the member only, and nothing asked is lost on a clean stop
(secfindings 4); limits hold when requests come at once (secfindings 6)."""

from __future__ import annotations

import http.client
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from sqlalchemy import func, select

from hub.config import HubConfig
from hub.console.member_space.links import link_requests
from hub.people.imports import import_members
from hub.service import Hub
from hub.store import make_engine, make_sessionmaker
from hub.store.models import MailMessage
from tests.integration.test_member_space import without_tokens
from tests.mail_server import MailServer
from tests.servers import REPO, Mosquitto, free_port
from tests.waiting import wait_until

DEMO = REPO / "deploy" / "demo"
MEMBER = "elodie.vigier@example.org"
#: As long as the member's address, so that both answers are the same length too.
STRANGER = "elodie.vigiez@example.org"
TOKEN_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
#: Headers that differ between any two answers (when, and each client's own cookie).
OWN_HEADERS = {"date", "set-cookie"}


def mailing_config(
    tmp_path: Path, broker: Mosquitto, mail_server: MailServer, **extra: Any
) -> HubConfig:
    """A hub on `broker` with the demo's sites, mailing through `mail_server`."""
    return HubConfig.model_validate(
        {
            "state_dir": str(tmp_path / "hub"),
            "mqtt": {"port": broker.port},
            "http": {"port": free_port()},
            "sites_file": str(DEMO / "sites.yaml"),
            "mail": mail_server.settings(),
            **extra,
        }
    )


@pytest.fixture
def hub(tmp_path: Path, broker: Mosquitto, mail_server: MailServer) -> Iterator[Hub]:
    service = Hub(mailing_config(tmp_path, broker, mail_server))
    service.start()
    with service.sessions.begin() as session:
        import_members(session, (DEMO / "members.csv").read_text(encoding="utf-8"))
    yield service
    service.stop()


class Form:
    """A sign-in page fetched on its own connection: its cookie and CSRF token."""

    def __init__(self, port: int, source: str = "127.0.0.1") -> None:
        self.connection = http.client.HTTPConnection(
            "127.0.0.1", port, timeout=30, source_address=(source, 0)
        )
        self.connection.request("GET", "/espace-membre/")
        answer = self.connection.getresponse()
        page = answer.read().decode()
        cookie = answer.getheader("Set-Cookie")
        found = TOKEN_RE.search(page)
        assert cookie is not None and found is not None
        self.cookie, self.token = cookie.split(";")[0], found.group(1)

    def post(self, path: str, **fields: str) -> tuple[int, dict[str, str], str]:
        body = urlencode({**fields, "csrf_token": self.token})
        headers = {"Cookie": self.cookie, "Content-Type": "application/x-www-form-urlencoded"}
        self.connection.request("POST", path, body=body, headers=headers)
        answer = self.connection.getresponse()
        text = answer.read().decode()
        self.connection.close()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, text


def port_of(hub: Hub) -> int:
    port = urlsplit(hub.url).port
    assert port is not None
    return port


def queued_to(hub: Hub, address: str) -> int:
    with hub.sessions() as session:
        found = session.scalar(
            select(func.count()).select_from(MailMessage).where(MailMessage.to_address == address)
        )
    return found or 0


def test_a_members_address_and_a_strangers_get_the_same_answer_and_only_the_member_a_mail(
    hub: Hub, mail_server: MailServer
) -> None:
    port = port_of(hub)
    member = Form(port).post("/espace-membre/", email=MEMBER)
    stranger = Form(port).post("/espace-membre/", email=STRANGER)
    assert member[0] == stranger[0] == 200
    assert {k: v for k, v in member[1].items() if k not in OWN_HEADERS} == {
        k: v for k, v in stranger[1].items() if k not in OWN_HEADERS
    }
    assert without_tokens(member[2], MEMBER) == without_tokens(stranger[2], STRANGER)
    wait_until(lambda: mail_server.inbox(MEMBER), timeout=30, message="the member's link mail")
    (mail,) = mail_server.inbox(MEMBER)
    assert "/espace-membre/lien/" in mail.get_content()
    assert link_requests(hub.app).drain(timeout=30)
    assert queued_to(hub, STRANGER) == 0 and mail_server.inbox(STRANGER) == []


def test_links_asked_just_before_a_clean_stop_are_all_written(hub: Hub) -> None:
    port = port_of(hub)
    members = [MEMBER, "pierre.delmas@example.org", "sandrine.rouquier@example.org"]
    for address in members:
        assert Form(port).post("/espace-membre/", email=address)[0] == 200
    hub.stop()  # at once: whatever the link thread had not written yet is written now
    engine = make_engine(hub.config.database_url)
    try:
        with make_sessionmaker(engine)() as session:
            sent = session.scalars(select(MailMessage.to_address)).all()
    finally:
        engine.dispose()
    assert sorted(sent) == sorted(members)


def burst(port: int, path: str, fields: list[dict[str, str]]) -> list[int]:
    """Every request posted at the same moment, each on its own connection; their statuses."""
    forms = [Form(port) for _ in fields]
    statuses = [0] * len(fields)
    go = threading.Barrier(len(fields), timeout=60)

    def one(index: int) -> None:
        go.wait()
        statuses[index] = forms[index].post(path, **fields[index])[0]

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(fields))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return statuses


def test_sixty_codes_typed_at_once_from_one_address_are_tried_ten_times_at_most(hub: Hub) -> None:
    codes = [{"code": f"AAAAA-{i:05d}"} for i in range(60)]
    statuses = burst(port_of(hub), "/espace-membre/code", codes)
    assert statuses.count(400) == 10  # tried, wrong
    assert statuses.count(429) == 50


def test_sixty_links_asked_at_once_for_one_address_send_three_mails(hub: Hub) -> None:
    statuses = burst(port_of(hub), "/espace-membre/", [{"email": MEMBER}] * 60)
    assert statuses.count(200) == 3 and statuses.count(429) == 57
    assert link_requests(hub.app).drain(timeout=30)
    assert queued_to(hub, MEMBER) == 3


def test_the_client_address_limit_holds_for_addresses_typed_one_by_one(hub: Hub) -> None:
    port = port_of(hub)
    statuses = [Form(port).post("/espace-membre/", email=f"x{i}@example.org")[0] for i in range(11)]
    assert statuses == [200] * 10 + [429]
    assert Form(port, source="127.0.0.2").post("/espace-membre/", email="y@example.org")[0] == 200
