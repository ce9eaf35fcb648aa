"""The hub's HTTP server (waitress, hub/web/server.py) on a real socket: slow clients hold
sockets, never threads; idle sockets are closed; no banner; oversize bodies refused."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.config import Http, HubConfig
from hub.store import make_engine, make_sessionmaker, migrate
from hub.web.app import create_app
from hub.web.body_limits import LARGEST_BODY_BYTES
from hub.web.server import WebServer
from tests.servers import free_port
from tests.waiting import wait_until

TOKEN = "department-token-0001"
SLOW_CLIENTS = 300


@pytest.fixture
def server(tmp_path: Path) -> Iterator[WebServer]:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    migrate(url)
    engine = make_engine(url)
    http = Http(port=free_port(), threads=4, channel_timeout_s=2, header_timeout_s=3)
    app = create_app(
        HubConfig(api_tokens={TOKEN: "department"}, http=http),
        sessionmaker=make_sessionmaker(engine),
        mqtt_up=lambda: True,
    )
    web = WebServer(app, http, max_body_bytes=LARGEST_BODY_BYTES)
    web.start()
    yield web
    web.stop()
    engine.dispose()


def health(server: WebServer) -> tuple[int, dict[str, str], object]:
    with urllib.request.urlopen(f"{server.url}/api/v1/health", timeout=10) as answer:
        return answer.status, dict(answer.headers), json.load(answer)


def half_requests(server: WebServer, count: int) -> list[socket.socket]:
    """Clients that send a request line and part of the headers, then nothing."""
    port = int(server.url.rsplit(":", 1)[1])
    clients = []
    for _ in range(count):
        client = socket.create_connection(("127.0.0.1", port), timeout=10)
        client.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        clients.append(client)
    return clients


def closed_by_the_server(client: socket.socket) -> bool:
    client.setblocking(False)
    try:
        return client.recv(1) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


def test_half_sent_requests_hold_no_thread_and_are_closed_when_idle(server: WebServer) -> None:
    assert health(server)[0] == 200
    threads = threading.active_count()
    clients = half_requests(server, SLOW_CLIENTS)
    try:
        # The server still answers, with the threads it had.
        status, _, body = health(server)
        assert (status, body) == (200, {"status": "ok", "db": "ok", "mqtt": "ok", "quarantined": 0})
        assert threading.active_count() == threads
        # Silent sockets are closed after `channel_timeout_s`.
        wait_until(
            lambda: all(closed_by_the_server(client) for client in clients),
            timeout=30,
            message="the server kept idle half-sent requests open",
        )
        assert threading.active_count() == threads
        assert health(server)[0] == 200
    finally:
        for client in clients:
            client.close()


def test_no_server_banner(server: WebServer) -> None:
    _, headers, _ = health(server)
    assert "Server" not in headers and "Via" not in headers
    assert headers["Cache-Control"] == "no-store"


def test_a_chunked_body_over_a_routes_limit_is_413(server: WebServer) -> None:
    """waitress reads a chunked body whole, then gives the app its length: the route's own
    limit applies, as it does to a declared Content-Length."""
    port = int(server.url.rsplit(":", 1)[1])
    chunk = b"#" * 65536
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(20)) + b"0\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        client.sendall(
            b"POST /api/v1/sites/import HTTP/1.1\r\nHost: localhost\r\n"
            + f"Authorization: Bearer {TOKEN}\r\n".encode()
            + b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            + body
        )
        answer = b""
        while part := client.recv(65536):
            answer += part
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert json.loads(payload) == {"error": "the body is larger than this hub accepts"}


def test_a_body_larger_than_any_route_takes_is_refused_before_it_is_sent(
    server: WebServer,
) -> None:
    port = int(server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        client.sendall(
            b"POST /api/v1/events/import HTTP/1.1\r\nHost: localhost\r\n"
            + f"Content-Length: {LARGEST_BODY_BYTES + 1}\r\n\r\n".encode()
        )
        answer = client.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413")
    assert b"waitress" not in answer.lower()


def test_a_body_over_its_routes_limit_is_refused_from_its_length_before_it_is_sent(
    server: WebServer,
) -> None:
    """60 MiB declared to /login, whose limit is 64 KiB: 413 at once, with the hub's headers,
    though not a byte of the body was sent (nothing read, nothing spooled to disk)."""
    port = int(server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        client.sendall(
            b"POST /login HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\n"
            + f"Content-Length: {60 * 1024 * 1024}\r\n\r\n".encode()
        )
        answer = b""
        while part := client.recv(65536):
            answer += part
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), head
    assert b"100 Continue" not in head
    for header in (b"X-Content-Type-Options: nosniff", b"Cache-Control: no-store", b"sandbox"):
        assert header in head
    assert json.loads(payload) == {"error": "the body is larger than this hub accepts"}


def test_headers_trickled_past_the_header_timeout_are_closed(server: WebServer) -> None:
    """A line every half second keeps waitress's silence timeout (2 s) from ever firing; the
    header timeout (3 s) closes the socket all the same."""
    clients = half_requests(server, 20)
    try:

        def trickle() -> bool:
            for client in clients:
                with contextlib.suppress(OSError):
                    client.sendall(b"1\r\nX-Slow: ")
            return all(closed_by_the_server(client) for client in clients)

        wait_until(trickle, timeout=20, interval=0.5, message="trickling sockets kept open")
        assert health(server)[0] == 200
    finally:
        for client in clients:
            client.close()


def test_a_static_path_that_is_not_a_file_is_404_and_not_cached(server: WebServer) -> None:
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(f"{server.url}/static/%2e%2e/app.py", timeout=10)
    assert raised.value.code == 404
    assert raised.value.headers["Cache-Control"] == "no-store"
    assert raised.value.headers["X-Content-Type-Options"] == "nosniff"
