"""Requests pipelined behind a board's stream, in the same packet, are never answered: each
would otherwise become one more stream on one socket (one count towards `connection_limit`),
every change sent that many times."""

from __future__ import annotations

import socket
import time

from tests.integration.test_board_streams import MURAT, Served, change, served

__all__ = ["served"]


def _read(sock: socket.socket, seconds: float) -> bytes:
    got = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = sock.recv(65536)
        except (TimeoutError, ConnectionResetError):
            break
        if not data:
            break
        got += data
    return got


def test_requests_pipelined_behind_a_stream_make_no_more_streams(
    served: Served,
) -> None:
    request = (
        b"GET /board/stream HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n"
        + f"Cookie: {served.cookie('lea')}\r\n\r\n".encode()
    )
    with socket.create_connection(("127.0.0.1", served.port)) as sock:
        sock.sendall(request * 3)
        first = _read(sock, 3)
        change(served, MURAT)
        later = _read(sock, 3)
        answers, cards = first.count(b"HTTP/1.1 "), later.count(b"event: site")
    assert (answers, cards) == (1, 1), "answers, cards per change"
