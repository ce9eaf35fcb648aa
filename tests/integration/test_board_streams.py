"""The live board's streams on the hub's real HTTP server (waitress, hub/web/server.py), read
from raw sockets: hundreds held open by the event loop with the worker threads free, a change
sent to each, the user checked again at each change, a client that never reads dropped,
everything ended when the hub stops."""

from __future__ import annotations

import logging
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy.orm import Session, sessionmaker

from hub.config import Console, Http, HubConfig
from hub.intake.live import Changes
from hub.people import users
from hub.people.imports import import_sites
from hub.people.names import site_labels
from hub.store import make_engine, make_sessionmaker, migrate
from hub.store.models import Alarm
from hub.web.app import create_app
from hub.web.body_limits import LARGEST_BODY_BYTES
from hub.web.server import WebServer
from tests.console import add_user, csrf_token, session_cookie
from tests.servers import REPO, free_port
from tests.waiting import wait_until

SITES = (REPO / "deploy" / "demo" / "sites.yaml").read_text(encoding="utf-8")
MURAT, MAURIAC = "murat", "mauriac"
MAURIAC_NAME = "Télécentre de la médiathèque"
OPEN_BOARDS = 200
#: A stream whose client leaves more than this unread is dropped (small, for the test).
BACKLOG = 16 * 1024


@dataclass
class Served:
    app: Flask
    web: WebServer
    changes: Changes
    sessions: sessionmaker[Session]

    @property
    def port(self) -> int:
        return int(self.web.url.rsplit(":", 1)[1])

    def cookie(self, login: str) -> str:
        return session_cookie(self.app, login)


@pytest.fixture
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Served]:
    """The hub's HTTP server; `streams_per_account` as the test's parameter says (indirect),
    else enough for every test's boards on one account."""
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    migrate(url)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        import_sites(session, SITES)
    add_user(sessions, "dora", "department")
    add_user(sessions, "lea", "animator", [MURAT])
    changes = Changes()
    http = Http(port=free_port(), threads=4, channel_timeout_s=3, connection_limit=1000)
    per_account = getattr(request, "param", OPEN_BOARDS)
    config = HubConfig(http=http, console=Console(streams_per_account=per_account))
    app = create_app(config, sessionmaker=sessions, changes=changes)
    web = WebServer(app, http, max_body_bytes=LARGEST_BODY_BYTES, stream_backlog_bytes=BACKLOG)
    web.start()
    yield Served(app, web, changes, sessions)
    changes.close()
    web.stop()
    # The boards' thread lives only while streams are open.
    wait_until(lambda: "board-streams" not in {t.name for t in threading.enumerate()})
    engine.dispose()


class Board:
    """A board's stream read from a raw socket: everything received, kept in `received`."""

    def __init__(self, served: Served, cookie: str, *, receive_buffer: int | None = None) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer is not None:  # before connecting: the window it announces
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.socket.connect(("127.0.0.1", served.port))
        self.socket.sendall(
            b"GET /board/stream HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n"
            + f"Cookie: {cookie}\r\n\r\n".encode()
        )
        self.received = b""
        self.ended = False

    def wait_for(self, needle: bytes, timeout: float = 20, count: int = 1) -> bool:
        """Read until `needle` came (`count` times: True), or the server closed the stream."""
        deadline = time.monotonic() + timeout
        while self.received.count(needle) < count and not self.ended:
            self.socket.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = self.socket.recv(65536)
            except TimeoutError:
                break
            except ConnectionResetError:
                data = b""
            self.received += data
            self.ended = not data
        return self.received.count(needle) >= count

    def wait_for_end(self, timeout: float = 20) -> bytes:
        """Everything until the server closes the stream."""
        self.wait_for(b"\0never sent\0", timeout)
        assert self.ended
        return self.received


def change(served: Served, *sites: str) -> bytes:
    """Publish that `sites` changed (as the ingest does after a commit); the events' id."""
    seq = served.changes.publish(set(sites))
    return f"id: {served.changes.epoch}:{seq}".encode()


def health(served: Served) -> int:
    with urllib.request.urlopen(f"{served.web.url}/api/v1/health", timeout=10) as answer:
        return int(answer.status)


def add_alarm(served: Served, site: str) -> None:
    with served.sessions.begin() as session:
        session.add(
            Alarm(
                event_id=f"alarm-{site}", site_id=site, device=f"{site}-door", door="main",
                kind="door_forced", at=datetime.now(UTC),
            )
        )  # fmt: skip


def test_hundreds_of_open_boards_hold_no_thread_and_each_gets_the_change(
    served: Served,
) -> None:
    cookie = served.cookie("dora")
    threads_before = threading.active_count()
    boards = [Board(served, cookie) for _ in range(OPEN_BOARDS)]
    for board in boards:
        assert board.wait_for(b'id="row-murat"')  # the first events: every site's row
    # 4 worker threads, 200 boards open: pages are still answered, no thread was added
    # (the board's own broadcaster is one).
    assert [health(served) for _ in range(10)] == [200] * 10
    assert threading.active_count() - threads_before <= 2
    add_alarm(served, MURAT)
    event_id = change(served, MURAT)
    for board in boards:
        assert board.wait_for(event_id)
        last = board.received.rsplit(event_id, 1)[1]
        assert b'id="row-murat" class="has-alarm"' in last
        assert b"row-mauriac" not in last  # only what changed
    assert not any(board.ended for board in boards)


@pytest.mark.parametrize("served", [2], indirect=True)
def test_an_accounts_boards_past_its_share_are_answered_and_not_held_open(
    served: Served,
) -> None:
    dora = served.cookie("dora")
    held = [Board(served, dora) for _ in range(2)]
    for board in held:
        assert board.wait_for(b'id="row-murat"')
    # The third: today's cards, then the answer ends (its browser asks again in a second).
    third = Board(served, dora).wait_for_end()
    assert b'id="row-murat"' in third and third.endswith(b"\r\n0\r\n\r\n")
    # Another account's board is held open; the two still get every change.
    lea = Board(served, served.cookie("lea"))
    assert lea.wait_for(b'id="site-murat"')
    event_id = change(served, MURAT)
    assert all(board.wait_for(event_id) for board in [*held, lea])
    assert not any(board.ended for board in [*held, lea])


@pytest.mark.parametrize("served", [2], indirect=True)
def test_a_burst_of_one_accounts_boards_holds_no_more_than_its_share(served: Served) -> None:
    """Boards asked for all at once, before any is held open: the share still holds."""
    dora = served.cookie("dora")
    burst = [Board(served, dora) for _ in range(24)]
    for board in burst:
        assert board.wait_for(b'id="row-murat"')
    # Those past the share end; the rest stay open and get the next change.
    for board in burst:
        board.wait_for(b"\0never sent\0", timeout=0.2)
    held = [board for board in burst if not board.ended]
    assert len(held) == 2
    event_id = change(served, MURAT)
    assert all(board.wait_for(event_id) for board in held)
    assert not any(board.ended for board in held)


@pytest.mark.parametrize("served", [1], indirect=True)
def test_a_head_of_the_stream_takes_nothing_of_the_accounts_share(served: Served) -> None:
    cookie = served.cookie("dora")
    with socket.create_connection(("127.0.0.1", served.port)) as head:
        head.sendall(
            b"HEAD /board/stream HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
            + f"Cookie: {cookie}\r\n\r\n".encode()
        )
        assert head.recv(65536).startswith(b"HTTP/1.1 200")
    board = Board(served, cookie)
    assert board.wait_for(b'id="row-murat"')
    # Held open (the share of one is whole): the HEAD claimed nothing.
    assert board.wait_for(change(served, MURAT)) and not board.ended


def test_an_animators_stream_never_carries_another_sites_data(served: Served) -> None:
    lea, dora = Board(served, served.cookie("lea")), Board(served, served.cookie("dora"))
    assert lea.wait_for(b'id="site-murat"') and dora.wait_for(b'id="row-mauriac"')
    add_alarm(served, MAURIAC)
    change(served, MAURIAC)
    murat = change(served, MURAT)
    assert dora.wait_for(b'id="row-mauriac" class="has-alarm"') and dora.wait_for(murat)
    assert lea.wait_for(murat)  # Murat's card, after Mauriac's change: nothing of Mauriac
    assert b"mauriac" not in lea.received and MAURIAC_NAME.encode() not in lea.received


def test_signing_out_ends_the_stream_at_the_next_change(served: Served) -> None:
    cookie = served.cookie("lea")
    board = Board(served, cookie)
    assert board.wait_for(b'id="site-murat"')
    client = served.app.test_client()
    client.set_cookie("telecentre_session", cookie.split("=", 1)[1])
    token = csrf_token(client.get("/").text)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    event_id = change(served, MURAT)
    received = board.wait_for_end()
    assert b"event: expired\ndata: /login" in received
    assert event_id not in received


def test_losing_a_site_ends_the_stream_before_that_sites_next_change(served: Served) -> None:
    board = Board(served, served.cookie("lea"))
    assert board.wait_for(b'id="site-murat"')
    with served.sessions.begin() as session:
        users.update_user(session, "lea", actor="test", sites=[MAURIAC])
    event_id = change(served, MURAT)
    received = board.wait_for_end()
    assert b"event: reload" in received  # its page reloads and shows Mauriac's card
    assert event_id not in received


def test_a_stream_ends_when_its_session_would_expire_and_the_browser_is_then_signed_out(
    served: Served,
) -> None:
    served.app.permanent_session_lifetime = timedelta(seconds=2)
    cookie = served.cookie("lea")
    for _ in range(10):  # the browser reconnects with its cookie each time the stream ends
        received = Board(served, cookie).wait_for_end()
        if b"event: expired" in received:
            break
        assert received.endswith(b"\r\n0\r\n\r\n")  # ended, not cut
    assert b"event: expired\ndata: /login" in received


def test_a_client_that_never_reads_is_dropped_and_the_others_keep_getting_changes(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    cookie = served.cookie("dora")
    stalled = Board(served, cookie, receive_buffer=4096)
    reader = Board(served, cookie)
    assert reader.wait_for(b'id="row-murat"')
    with served.sessions() as session:
        every_site = list(site_labels(session, None))
    caplog.set_level(logging.INFO, logger="hub.web.server")
    dropped = "dropped a stream whose client does not read"
    for _ in range(500):
        if dropped in caplog.text:
            break
        assert reader.wait_for(change(served, *every_site))  # never held up by the other
    assert caplog.text.count(dropped) == 1
    assert reader.wait_for(change(served, MURAT)) and not reader.ended
    stalled.wait_for_end()  # what the kernel held, then the server's close


def test_the_hub_stopping_ends_every_stream_with_its_last_chunk(served: Served) -> None:
    cookie = served.cookie("dora")
    boards = [Board(served, cookie) for _ in range(5)]
    for board in boards:
        assert board.wait_for(b'id="row-murat"')
    served.changes.close()  # as the hub's stop does first
    for board in boards:
        assert board.wait_for_end().endswith(b"\r\n0\r\n\r\n")


def test_stopping_the_server_closes_every_stream(served: Served) -> None:
    cookie = served.cookie("lea")
    boards = [Board(served, cookie) for _ in range(5)]
    for board in boards:
        assert board.wait_for(b'id="site-murat"')
    served.web.stop()
    for board in boards:
        board.wait_for_end()


def test_a_quiet_stream_outlives_the_idle_timeout_on_heartbeats(served: Served) -> None:
    board = Board(served, served.cookie("lea"))
    assert board.wait_for(b'id="site-murat"')
    # The server closes a socket silent for `channel_timeout_s` (3 s); heartbeats (one a
    # second here) keep this one open through several of them.
    assert board.wait_for(b": still here", count=12)
    assert board.wait_for(change(served, MURAT))
