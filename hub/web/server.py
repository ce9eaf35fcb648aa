"""The hub's HTTP server: waitress, a production WSGI server, with everything bounded.

Waitress reads and writes sockets in one event loop and hands only complete requests to a
fixed pool of `threads`, so a client that sends half a request (or reads its answer slowly)
holds a socket, never a thread. Open sockets are capped by `connection_limit`, and one that
stays silent for `channel_timeout_s` is closed. No `Server:` banner tells which software
answers. Bodies are capped here at the largest any route takes
(`hub.web.body_limits.LARGEST_BODY_BYTES`); each route's own, smaller, limit is the app's.

>>> server = WebServer(app, config.http)                       # doctest: +SKIP
>>> server.start(); print(server.url); server.stop()
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from waitress import wasyncore
from waitress.server import BaseWSGIServer, create_server

from hub.config import Http

log = logging.getLogger(__name__)

#: The longest a request line and its headers may be: a browser's cookies fit easily.
MAX_HEADER_BYTES = 64 * 1024


class WebServer:
    """`start()` serves `app` in a thread of its own; `stop()` closes every socket."""

    def __init__(self, app: Any, http: Http, *, max_body_bytes: int) -> None:
        server = create_server(
            app,
            host=http.host,
            port=http.port,
            threads=http.threads,
            connection_limit=http.connection_limit,
            channel_timeout=http.channel_timeout_s,
            cleanup_interval=max(1, min(30, http.channel_timeout_s // 2)),
            max_request_header_size=MAX_HEADER_BYTES,
            max_request_body_size=max_body_bytes,
            ident="",  # no Server: header
            asyncore_use_poll=True,  # select() would fail past 1,024 open sockets
            # Send what a streaming answer yields at once: waitress otherwise holds it until
            # 18,000 bytes are waiting, and a live board's few kilobytes would sit there.
            send_bytes=1,
        )
        assert isinstance(server, BaseWSGIServer), "one address gives one server"
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
