"""The production front: the shipped deploy/nginx/telecentre-hub.conf (TLS, on loopback) in
front of the hub's waitress. Slow clients do not stall the console; a huge declared body is
refused before a byte of it is sent; nginx's own refusals carry the hub's headers."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from hub.console.services import EXTENSION
from hub.people.imports import import_sites
from hub.store.models import MailMessage
from tests.console import PASSWORD, add_user, csrf_token, session_cookie
from tests.front import (
    DEMO,
    TOKEN,
    Served,
    add_demo_people,
    behind_nginx,
    exchange,
    mailed_bodies,
)
from tests.servers import NginxFront
from tests.waiting import wait_until

SLOW_CLIENTS = 500
MIB = 1024 * 1024
#: The attacker and the staff member come from two addresses (all of 127/8 is loopback):
#: nginx bounds connections per address.
ATTACKER, STAFF = "127.0.0.3", "127.0.0.2"
ELODIE = "elodie.vigier@example.org"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with behind_nginx(tmp_path) as served:
        yield served


@pytest.fixture
def front(served: Served) -> NginxFront:
    return served.nginx


def tls(front: NginxFront) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(front.ca))


def get(front: NginxFront, path: str, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    """A staff member's request; `timeout` bounds the wait (a stalled front fails it)."""
    connection = http.client.HTTPSConnection(
        "127.0.0.1", front.port, timeout=timeout, context=tls(front), source_address=(STAFF, 0)
    )
    try:
        connection.request("GET", path)
        answer = connection.getresponse()
        return answer.status, dict(answer.headers), answer.read()
    finally:
        connection.close()


def slow_client(front: NginxFront) -> ssl.SSLSocket:
    raw = socket.create_connection(
        ("127.0.0.1", front.port), timeout=10, source_address=(ATTACKER, 0)
    )
    client = tls(front).wrap_socket(raw, server_hostname="127.0.0.1")
    client.sendall(b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    return client


def still_open(client: ssl.SSLSocket) -> bool:
    """Trickle one more header line; False once nginx has closed the socket."""
    try:
        client.sendall(b"X-Slow: 1\r\n")
        client.settimeout(0.001)
        return client.recv(1) != b""
    except (TimeoutError, ssl.SSLWantReadError):
        return True
    except (OSError, ssl.SSLError):
        return False


def test_500_trickling_sockets_leave_the_console_answering_and_are_closed(
    front: NginxFront,
) -> None:
    assert get(front, "/login")[0] == 200
    clients = [slow_client(front) for _ in range(SLOW_CLIENTS)]
    try:
        status, _headers, body = get(front, "/login")
        assert status == 200 and "Identifiant" in body.decode()
        assert get(front, "/api/v1/health")[0] == 200
        # Each trickles a header line every 2 s: nginx closes them all the same, once their
        # header has taken longer than its `client_header_timeout`.
        open_clients = list(clients)

        def trickle() -> bool:
            open_clients[:] = [client for client in open_clients if still_open(client)]
            time.sleep(2)
            return not open_clients

        wait_until(trickle, timeout=30, interval=0, message="nginx kept trickling sockets open")
        assert get(front, "/login")[0] == 200
    finally:
        for client in clients:
            client.close()


def declared_body(front: NginxFront, path: str, length: int) -> tuple[bytes, dict[str, str]]:
    """Headers declaring `length` bytes of body, and not one byte of it: the answer."""
    raw = socket.create_connection(("127.0.0.1", front.port), timeout=10, source_address=(STAFF, 0))
    with tls(front).wrap_socket(raw, server_hostname="127.0.0.1") as client:
        client.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
            f"Content-Type: text/plain\r\nContent-Length: {length}\r\n\r\n".encode()
        )
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            part = client.recv(65536)
            if not part:
                break
            answer += part
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return lines[0].encode() + b"\n" + body, headers


@pytest.mark.parametrize(
    ("path", "length"),
    [("/login", 60 * MIB), ("/api/v1/sites/import", 2 * MIB), ("/api/v1/events/import", 65 * MIB)],
)
def test_a_declared_body_over_its_routes_limit_is_refused_at_once(
    front: NginxFront, path: str, length: int
) -> None:
    answer, headers = declared_body(front, path, length)
    status, _, body = answer.partition(b"\n")
    assert status.startswith(b"HTTP/1.1 413"), answer[:300]
    assert json.loads(body) == {"error": "the body is larger than this hub accepts"}
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cache-Control"] == "no-store"
    assert "sandbox" in headers["Content-Security-Policy"]


def test_a_body_over_the_small_limit_reaches_an_import_that_takes_it(front: NginxFront) -> None:
    """100 KiB: over the 64 KiB of every other route, within the members import's 16 MiB."""
    connection = http.client.HTTPSConnection(
        "127.0.0.1", front.port, timeout=10, context=tls(front), source_address=(STAFF, 0)
    )
    body = "member_id,last_name\n" + "x" * 100 * 1024
    connection.request("POST", "/api/v1/members/import", body, {"Authorization": f"Bearer {TOKEN}"})
    answer = connection.getresponse()
    assert answer.status == 422  # the hub read it, and found it is not a members file
    assert "bad line" in json.loads(answer.read())["error"]
    connection.close()


def test_a_boards_stream_passes_each_change_at_once(served: Served) -> None:
    """The stream's location is unbuffered: a change reaches the board while the stream
    stays open, not when it ends."""
    with served.sessions.begin() as session:
        import_sites(session, (DEMO / "sites.yaml").read_text("utf-8"))
    add_user(served.sessions, "dora", "department")
    cookie = session_cookie(served.app, "dora")
    changes = served.app.extensions[EXTENSION].changes
    raw = socket.create_connection(
        ("127.0.0.1", served.nginx.port), timeout=20, source_address=(STAFF, 0)
    )
    with tls(served.nginx).wrap_socket(raw, server_hostname="127.0.0.1") as client:
        client.sendall(
            b"GET /board/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
            + f"Cookie: {cookie}\r\n\r\n".encode()
        )
        received = b""
        while b'id="row-murat"' not in received:
            part = client.recv(65536)
            assert part, received
            received += part
        event_id = f"id: {changes.epoch}:{changes.publish({'murat'})}".encode()
        while event_id not in received:
            part = client.recv(65536)
            assert part, received
            received += part
    assert received.startswith(b"HTTP/1.1 200")
    assert b"Content-Type: text/event-stream" in received


# --- Who the client is: each address counted on its own (secfindings 2) -----------------------


def request(
    served: Served,
    source: str,
    method: str,
    path: str,
    body: str = "",
    headers: dict[str, str] | None = None,
) -> tuple[int, str, str]:
    """One request from `source` through nginx (`exchange`)."""
    connection = http.client.HTTPSConnection(
        "127.0.0.1", served.nginx.port, timeout=5, context=tls(served.nginx),
        source_address=(source, 0),
    )  # fmt: skip
    return exchange(connection, method, path, body, headers)


def api_call(served: Served, source: str, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    return request(served, source, "GET", "/api/v1/devices", headers=headers)[0]


def form_post(served: Served, source: str, path: str, fields: dict[str, str]) -> int:
    """The form at `path` read, then sent back filled in, as a browser from `source` does
    (over HTTPS, the form's CSRF check wants the page it came from)."""
    _status, page, cookie = request(served, source, "GET", path)
    body = urlencode({**fields, "csrf_token": csrf_token(page)})
    headers = {"Cookie": cookie, "Referer": served.nginx.url + path}
    return request(served, source, "POST", path, body, headers)[0]


def test_one_clients_wrong_tokens_leave_another_address_its_api(served: Served) -> None:
    # The attacker even names the staff's address: nginx overwrites what it says.
    spoof = {"Authorization": "Bearer wrong-000000000000", "X-Forwarded-For": STAFF}
    assert [api_call(served, ATTACKER, f"wrong-{n:016d}") for n in range(9)] == [401] * 9
    assert request(served, ATTACKER, "GET", "/api/v1/devices", headers=spoof)[0] == 401
    assert api_call(served, ATTACKER, TOKEN) == 429  # ten failures: this address waits
    assert api_call(served, STAFF, TOKEN) == 200


def test_one_clients_wrong_passwords_leave_another_address_its_console(served: Served) -> None:
    add_user(served.sessions, "ada", "admin")
    wrong = {"password": "not the password"}
    tries = [
        form_post(served, ATTACKER, "/login", {"login": f"nobody{n}", **wrong}) for n in range(21)
    ]
    assert tries[-1] == 429 and 429 not in tries[:20]
    assert form_post(served, STAFF, "/login", {"login": "ada", "password": PASSWORD}) == 302


def test_one_clients_link_requests_leave_other_members_theirs(served: Served) -> None:
    add_demo_people(served.sessions)
    asked = [
        form_post(served, ATTACKER, "/espace-membre/", {"email": f"x{n}@example.org"})
        for n in range(11)
    ]
    assert asked == [200] * 10 + [429]
    assert form_post(served, STAFF, "/espace-membre/", {"email": ELODIE}) == 200
    [body] = mailed_bodies(served.sessions, ELODIE, 1)
    # The link leads to the hub's public address (console.public_url: nginx's here).
    assert f"{served.nginx.url}/espace-membre/lien/" in body


# --- Whose address it is: a forged Host gets nothing (secfindings 1) ----------------------------


def test_a_request_for_another_host_is_closed_unanswered(served: Served) -> None:
    add_demo_people(served.sessions)
    forged = {"Host": "evil.example"}
    for method, path, body in [
        ("GET", "/espace-membre/", ""),
        ("POST", "/espace-membre/", urlencode({"email": ELODIE})),
        ("GET", "/api/v1/health", ""),
    ]:
        with pytest.raises(http.client.RemoteDisconnected):  # nginx's 444: no answer at all
            request(served, ATTACKER, method, path, body, forged)
    assert request(served, STAFF, "GET", "/api/v1/health")[0] == 200
    with served.sessions() as session:
        assert session.scalar(select(func.count()).select_from(MailMessage)) == 0
