"""The hub's waitress reached directly (no nginx): a client has no say in its own address
(X-Forwarded-For) unless it is the proxy hub.yaml names, and no say in the address of the
links the hub mails (Host). Through the shipped nginx: tests/integration/test_nginx_front.py."""

from __future__ import annotations

import http.client
import re
from pathlib import Path
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from hub.config import Console, Http, HubConfig
from hub.store.models import MailMessage
from tests.console import csrf_token
from tests.front import TOKEN, add_demo_people, exchange, mailed_bodies, serving
from tests.servers import free_port

ELODIE = "elodie.vigier@example.org"
PUBLIC = "https://hub.cybercantal.fr"
LINK_RE = re.compile(r"\S+/espace-membre/lien/\S+")


def config(http: Http, console: Console) -> HubConfig:
    return HubConfig(api_tokens={TOKEN: "department"}, http=http, console=console)


def call(
    port: int,
    method: str,
    path: str,
    headers: dict[str, str],
    body: str = "",
    source: str = "127.0.0.1",
) -> tuple[int, str, str]:
    """One request straight to the hub's waitress, from `source` (`exchange`)."""
    connection = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=5, source_address=(source, 0)
    )
    return exchange(connection, method, path, body, headers)


def guesses_then_the_right_token(port: int, source: str) -> int:
    """Ten wrong tokens, each claiming another client address; then the right token, under
    an eleventh: 429 if the hub counted them all as the one address they came from."""
    for n in range(10):
        headers = {"Authorization": f"Bearer wrong-{n:016d}", "X-Forwarded-For": f"192.0.2.{n}"}
        assert call(port, "GET", "/api/v1/devices", headers, source=source)[0] == 401
    headers = {"Authorization": f"Bearer {TOKEN}", "X-Forwarded-For": "192.0.2.99"}
    return call(port, "GET", "/api/v1/devices", headers, source=source)[0]


def test_with_no_proxy_a_clients_forwarded_for_is_ignored(tmp_path: Path) -> None:
    http = Http(port=free_port(), threads=4)
    with serving(tmp_path, config(http, Console())):
        assert guesses_then_the_right_token(http.port, "127.0.0.1") == 429


def test_behind_a_proxy_only_the_proxy_names_the_client(tmp_path: Path) -> None:
    """The proxy at `http.proxy_address` names each client; a client reaching the hub from
    another address (the proxy bypassed) is counted as itself, whatever it claims."""
    http = Http(port=free_port(), threads=4, trusted_proxies=1, proxy_address="127.0.0.1")
    with serving(tmp_path, config(http, Console(public_url=PUBLIC))):
        assert guesses_then_the_right_token(http.port, "127.0.0.5") == 429
        assert guesses_then_the_right_token(http.port, "127.0.0.1") == 200


def ask_link(port: int, host: str) -> int:
    """A member's sign-in link asked with `host` as the Host header; the answer's status."""
    status, page, cookie = call(port, "GET", "/espace-membre/", {"Host": host})
    if status != 200:
        return status
    body = urlencode({"email": ELODIE, "csrf_token": csrf_token(page)})
    return call(port, "POST", "/espace-membre/", {"Host": host, "Cookie": cookie}, body)[0]


@pytest.mark.parametrize(
    ("public_url", "known"),
    [(PUBLIC, "hub.cybercantal.fr"), (None, "127.0.0.1")],
    ids=["public_url", "this machine only"],
)
def test_a_forged_host_is_refused_and_links_lead_to_the_hubs_address(
    tmp_path: Path, public_url: str | None, known: str
) -> None:
    http = Http(port=free_port(), threads=4)
    with serving(tmp_path, config(http, Console(public_url=public_url))) as served:
        sessions = served.sessions
        add_demo_people(sessions)
        assert ask_link(http.port, "evil.example") == 400
        assert ask_link(http.port, f"evil.example:{http.port}") == 400
        assert ask_link(http.port, known) == 200
        assert ask_link(http.port, "localhost") == 200  # this machine's own name, for checks
        root = public_url or f"http://127.0.0.1:{http.port}"
        # Links are written in the order asked: the forged ones, had they been taken, first.
        bodies = mailed_bodies(sessions, ELODIE, 2)
        with sessions() as session:
            assert session.scalar(select(func.count()).select_from(MailMessage)) == 2
        links = [match.group(0) for body in bodies if (match := LINK_RE.search(body))]
        assert len(links) == 2
        assert all(link.startswith(f"{root}/espace-membre/lien/") for link in links)
