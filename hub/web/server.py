"""The hub's HTTP server: waitress, a production WSGI server, with everything bounded.

Waitress reads and writes sockets in one event loop and hands only complete requests to a
fixed pool of `threads`, so a client that sends half a request (or reads its answer slowly)
holds a socket, never a thread. Open sockets are capped by `connection_limit`, and one that
stays silent for `channel_timeout_s` is closed, as is one whose request headers are not all
in after `header_timeout_s` however slowly they trickle. No `Server:` banner tells which
software answers. A body over its route's limit (`hub.web.body_limits.limit_for`) is refused
from its `Content-Length` as soon as the headers are in, before a byte of it is read; the
server's own answers carry the hub's security headers. In production nginx stands in front
(deploy/nginx/, docs/operations.md) and bounds clients per address as well.

>>> server = WebServer(app, config.http)                       # doctest: +SKIP
>>> server.start(); print(server.url); server.stop()
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from flask import Flask
from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import TcpWSGIServer
from waitress.task import ErrorTask
from waitress.utilities import RequestEntityTooLarge

from hub.config import Http
from hub.web.body_limits import limit_for

log = logging.getLogger(__name__)

#: The longest a request line and its headers may be: a browser's cookies fit easily.
MAX_HEADER_BYTES = 64 * 1024


#: Waitress's own answers (a body too large, headers too long, a malformed request) are data,
#: never a page: nothing in them may run, be framed, be cached or have its type guessed.
ERROR_HEADERS = [
    ("X-Content-Type-Options", "nosniff"),
    ("Cache-Control", "no-store"),
    ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; sandbox"),
]


class _ErrorTask(ErrorTask):  # type: ignore[misc]
    """Waitress's error answer with the hub's headers, and a JSON body as the API's errors."""

    def execute(self) -> None:
        error = self.request.error
        message = f"{error.reason}: {error.body}"
        if isinstance(error, RequestEntityTooLarge):
            message = "the body is larger than this hub accepts"
        body = json.dumps({"error": message}).encode()
        self.status = f"{error.code} {error.reason}"
        self.response_headers.extend([("Content-Type", "application/json"), *ERROR_HEADERS])
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class _RequestParser(HTTPRequestParser):  # type: ignore[misc]
    """Waitress's parser, refusing a body over its route's own limit (`limit_for`) as soon
    as the headers are in, from the `Content-Length`: nothing of it is read or spooled to
    disk. A chunked body has no length to judge: it is read up to the largest any route
    takes, then the app applies its route's limit (nginx, in front, cuts it as it comes)."""

    error: Any  # waitress's: the error to answer, or None

    def __init__(self, adj: Any, limit_for: Callable[[str, str], int]) -> None:
        super().__init__(adj)
        self.started = time.monotonic()
        self._limit_for = limit_for
        self._limit: int | None = None

    def received(self, data: bytes) -> int:
        consumed: int = super().received(data)
        if self.headers_finished and not self.error and not self.empty:
            if self._limit is None:
                self._limit = self._limit_for(self.command, self.path)
            if self.content_length > self._limit:
                self.error = RequestEntityTooLarge(f"exceeds this route's {self._limit} bytes")
                self.completed = True
                self.expect_continue = False  # no "100 Continue": the body is not wanted
        return consumed


class _Channel(HTTPChannel):  # type: ignore[misc]
    error_task_class = _ErrorTask

    def parser_class(self, adj: Any) -> _RequestParser:
        # Waitress makes each request's parser by calling `self.parser_class(self.adj)`.
        return _RequestParser(adj, self.server.body_limit_for)


class _Server(TcpWSGIServer):  # type: ignore[misc]
    """Waitress's TCP server; its maintenance also closes a socket whose request headers
    are not all in after `header_timeout_s`, however slowly bytes keep trickling (waitress's
    own timeout counts silence only)."""

    channel_class = _Channel

    def __init__(
        self,
        app: Any,
        *,
        body_limit_for: Callable[[str, str], int],
        header_timeout_s: float,
        **adjustments: Any,
    ) -> None:
        self.body_limit_for = body_limit_for
        self.header_timeout_s = header_timeout_s
        super().__init__(app, adj=Adjustments(**adjustments))

    def maintenance(self, now: float) -> None:
        super().maintenance(now)
        cutoff = time.monotonic() - self.header_timeout_s
        for channel in list(self.active_channels.values()):
            request = channel.request
            if request is not None and not request.headers_finished and request.started < cutoff:
                channel.will_close = True


class WebServer:
    """`start()` serves `app` in a thread of its own; `stop()` closes every socket."""

    def __init__(self, app: Flask, http: Http, *, max_body_bytes: int) -> None:
        server = _Server(
            app,
            body_limit_for=lambda method, path: min(max_body_bytes, limit_for(app, method, path)),
            header_timeout_s=http.header_timeout_s,
            host=http.host,
            port=http.port,
            threads=http.threads,
            connection_limit=http.connection_limit,
            channel_timeout=http.channel_timeout_s,
            cleanup_interval=max(
                1, min(30, http.channel_timeout_s // 2, http.header_timeout_s // 2)
            ),
            max_request_header_size=MAX_HEADER_BYTES,
            max_request_body_size=max_body_bytes,
            ident="",  # no Server: header
            asyncore_use_poll=True,  # select() would fail past 1,024 open sockets
            # Send what a streaming answer yields at once: waitress otherwise holds it until
            # 18,000 bytes are waiting, and a live board's few kilobytes would sit there.
            send_bytes=1,
        )
        self._server = server
        self._thread = threading.Thread(target=server.run, name="http", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self._server.effective_host}:{self._server.effective_port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Finish the requests being answered (up to `timeout_s`), then close every socket;
        the event loop ends once it has none left."""
        self._server.task_dispatcher.shutdown(timeout=timeout_s)
        wasyncore.close_all(self._server._map)
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            log.warning("the HTTP server's loop did not stop within %.0f s", timeout_s)
