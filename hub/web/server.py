"""The hub's HTTP server: waitress, a production WSGI server, with everything bounded.

Waitress reads and writes sockets in one event loop and hands only complete requests to a
fixed pool of `threads`, so a client that sends half a request (or reads its answer slowly)
holds a socket, never a thread. Open sockets are capped by `connection_limit`, and one that
stays silent for `channel_timeout_s` is closed, as is one whose request headers are not all
in after `header_timeout_s` however slowly they trickle. No `Server:` banner tells which
software answers. A body over its route's limit (`hub.web.body_limits.limit_for`) is refused
from its `Content-Length` as soon as the headers are in, before a byte of it is read; the
server's own answers carry the hub's security headers. In production nginx stands in front
(deploy/nginx/, docs/operations.md) and bounds clients per address as well; the client's
address and scheme are then the ones nginx forwards, believed from nginx only
(`_proxy_adjustments`).

Long answers (the live board's Server-Sent Events) hold no thread either: a view that
accepts a request's `Handover` (`hub.web.streams`) gets a `Stream` once its headers and first
events are written; the worker thread goes back to the pool, the socket stays open and moves
to a second event loop, the streams' own (see `_Server`). `hub.web.streams.send` queues bytes
on them from any thread without ever blocking: the writes happen in that loop's thread
(waitress's trigger), and a client that leaves more than `stream_backlog_bytes` unread is
dropped. A stream's socket closes when the client goes, when `send(..., end=True)` ends it,
or at `stop()`; the app learns it from `Stream.closed`. Nothing else keeps a stream alive:
the app sends something more often than `channel_timeout_s` (a heartbeat comment), or the
server closes it as any silent socket.

>>> server = WebServer(app, config.http)                       # doctest: +SKIP
>>> server.start(); print(server.url); server.stop()
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from flask import Flask
from waitress import trigger, wasyncore
from waitress.adjustments import Adjustments
from waitress.buffers import OverflowableBuffer
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import TcpWSGIServer
from waitress.task import ErrorTask, WSGITask
from waitress.utilities import RequestEntityTooLarge

from hub.config import Http
from hub.web.body_limits import limit_for
from hub.web.streams import HANDOVER, Handover, Stream

log = logging.getLogger(__name__)

#: The longest a request line and its headers may be: a browser's cookies fit easily.
MAX_HEADER_BYTES = 64 * 1024
#: A stream whose client leaves this much unread (beyond what its socket holds) is dropped.
STREAM_BACKLOG_BYTES = 256 * 1024
#: The kernel's send buffer of a stream's socket: events are small, and thousands of idle
#: streams then hold little memory (a client that stops reading is seen sooner too).
STREAM_SNDBUF_BYTES = 64 * 1024


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


class _Stream(Stream):
    """An answer kept open in the streams' loop (see the module's docstring)."""

    def __init__(self, channel: _Channel, *, chunked: bool) -> None:
        self._channel = channel
        self._chunked = chunked

    @property
    def closed(self) -> bool:
        channel = self._channel
        return not channel.connected or channel.will_close or channel.close_when_flushed

    @property
    def loop(self) -> _StreamsLoop:
        server: _Server = self._channel.server
        return server.streams_loop

    def write(self, data: bytes, end: bool) -> None:
        """In the streams' loop: queue `data` (framed as a chunk when the answer is chunked),
        or drop a client that leaves too much unread, or has taken nothing for
        `channel_timeout_s` (waitress's idle timeout, which no longer sees it)."""
        channel = self._channel
        if self.closed or not (data or end):
            return
        unread = channel.total_outbufs_len > channel.server.stream_backlog_bytes
        if unread or channel.last_activity < time.time() - channel.adj.channel_timeout:
            log.info("dropped a stream whose client does not read (%s)", channel.addr[0])
            channel.will_close = True
            return
        if self._chunked:
            data = (b"%X\r\n%s\r\n" % (len(data), data) if data else b"") + (
                b"0\r\n\r\n" if end else b""
            )
        # No lock: no worker thread writes to a stream once handed over, and the loop that
        # sends the buffers is this thread. A new buffer now and then, as `write_soon` does.
        if channel.current_outbuf_count >= channel.adj.outbuf_high_watermark:
            channel.outbufs.append(OverflowableBuffer(channel.adj.outbuf_overflow))
            channel.current_outbuf_count = 0
        channel.outbufs[-1].append(data)
        channel.current_outbuf_count += len(data)
        channel.total_outbufs_len += len(data)
        if end:
            channel.close_when_flushed = True


class _StreamsLoop:
    """A server's streams' loop, as `hub.web.streams.send` wakes it."""

    def __init__(self, server: _Server) -> None:
        self._server = server

    def call_soon(self, thunk: Callable[[], None]) -> None:
        self._server.call_soon(thunk, streams=True)


class _Task(WSGITask):  # type: ignore[misc]
    """Waitress's WSGI task, offering the app a `Handover`; an answer handed over is left
    open (no last chunk, no close) for its `Stream`."""

    environ: dict[str, Any] | None
    handover: Handover | None = None

    def get_environment(self) -> dict[str, Any]:
        environ: dict[str, Any] = super().get_environment()
        if self.handover is None:
            self.handover = environ[HANDOVER] = Handover()
        return environ

    def execute(self) -> None:
        super().execute()
        opened = self.handover.opened if self.handover is not None else None
        channel = self.channel
        if (
            opened is not None
            and self.request.command == "GET"
            and self.status.startswith("200")
            and self.wrote_header
            and self.content_length is None
            and channel.connected
            and channel.stream is None
        ):
            self.close_on_finish = False  # waitress closes after a streamed body otherwise
            with channel.requests_lock:
                # Requests pipelined behind the stream's are never answered: each would
                # otherwise become one more stream on this socket, uncounted by the limits.
                for later in channel.requests[1:]:
                    later.close()
                del channel.requests[1:]
            channel.stream = _Stream(channel, chunked=self.chunked_response)
            channel.opened = opened

    def finish(self) -> None:
        if self.channel.stream is None:
            super().finish()


class _Channel(HTTPChannel):  # type: ignore[misc]
    error_task_class = _ErrorTask
    task_class = _Task
    #: Set by `_Task` when its answer is handed over: the stream, and who to tell once the
    #: worker thread is done with it.
    stream: _Stream | None = None
    opened: Callable[[Stream], None] | None = None

    def parser_class(self, adj: Any) -> _RequestParser:
        # Waitress makes each request's parser by calling `self.parser_class(self.adj)`.
        return _RequestParser(adj, self.server.body_limit_for)

    def received(self, data: bytes) -> bool:
        if self.stream is not None:
            # A stream's client has nothing more to say (EventSource sends nothing): no
            # second request is served on a socket that carries a stream.
            self.will_close = True
            return False
        accepted: bool = super().received(data)
        return accepted

    def service(self) -> None:
        super().service()
        opened, self.opened = self.opened, None
        stream, sock = self.stream, self.socket
        if opened is None or stream is None or stream.closed or sock is None:
            return  # not a stream, or its client already left
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, STREAM_SNDBUF_BYTES)
        except OSError:
            return  # closed meanwhile
        self.server.call_soon(lambda: self.server.adopt(self, opened))


class _Server(TcpWSGIServer):  # type: ignore[misc]
    """Waitress's TCP server, with a second event loop for the streams handed over: each
    turn of an asyncore loop asks every one of its sockets what it waits for, so thousands
    of open boards in the requests' loop would slow every page; in a loop of their own, they
    cost a turn only when something is sent to them. Both count towards `connection_limit`.

    Its maintenance also closes a socket whose request headers are not all in after
    `header_timeout_s`, however slowly bytes keep trickling (waitress's own timeout counts
    silence only)."""

    channel_class = _Channel
    next_channel_cleanup: float = 0  # waitress's

    def __init__(
        self,
        app: Any,
        *,
        body_limit_for: Callable[[str, str], int],
        header_timeout_s: float,
        stream_backlog_bytes: int,
        **adjustments: Any,
    ) -> None:
        self.body_limit_for = body_limit_for
        self.header_timeout_s = header_timeout_s
        self.stream_backlog_bytes = stream_backlog_bytes
        self._trigger_locks = {False: threading.Lock(), True: threading.Lock()}
        #: `stop_loops` has begun: a socket being handed over is closed, not adopted.
        self._closing = False
        self._stopped = False
        self.streams_map: dict[int, Any] = {}
        self.streams_trigger = trigger.trigger(self.streams_map)
        self.streams_loop = _StreamsLoop(self)
        super().__init__(app, adj=Adjustments(**adjustments))

    def run_streams(self) -> None:
        """The streams' loop (its own thread); it ends when `stop` closes its sockets."""
        wasyncore.loop(timeout=self.adj.asyncore_loop_timeout, map=self.streams_map, use_poll=True)

    def call_soon(self, thunk: Callable[[], None], *, streams: bool = False) -> None:
        """Run `thunk` in the requests' loop (or the streams' loop) as soon as it wakes;
        nothing once stopped (the trigger's pipe is closed then, its number maybe reused).
        One lock per loop: a thunk of one loop may wake the other."""
        with self._trigger_locks[streams]:
            if not self._stopped:
                (self.streams_trigger if streams else self.trigger).pull_trigger(thunk)

    def adopt(self, channel: _Channel, opened: Callable[[Stream], None]) -> None:
        """In the requests' loop, between two turns: move a handed-over socket to the streams'
        loop (which adds it itself, between two of its turns), then tell the app."""
        stream = channel.stream
        if stream is None or stream.closed:
            return
        fd = channel._fileno
        channel.del_channel()  # from this loop, and from waitress's idle timeout
        channel._map, channel._fileno = self.streams_map, fd

        def adopted() -> None:
            wasyncore.dispatcher.add_channel(channel)
            try:
                opened(stream)
            except Exception:
                log.exception("a stream could not be opened: closed")
                stream.write(b"", True)

        # In neither loop's map until adopted: handed to the streams' loop before its close
        # of every socket (then closed with them), or closed here (no loop would).
        with self._trigger_locks[True]:
            if not self._closing:
                self.streams_trigger.pull_trigger(adopted)
                return
        channel.close()

    def stop_loops(self) -> None:
        """Close every socket; each loop ends once it has none (the streams' loop closes its
        own, between two of its turns)."""
        with self._trigger_locks[True]:
            self._closing = True  # no socket handed over after the close below is queued
        try:
            self.call_soon(lambda: wasyncore.close_all(self.streams_map), streams=True)
        except OSError:
            # The streams' wake-up pipe is already gone (seen once, under load, in a test's
            # teardown): its loop cannot be asked, so its sockets are closed from here.
            log.warning("the streams' loop could not be woken: its sockets closed directly")
            wasyncore.close_all(self.streams_map)
        with self._trigger_locks[False], self._trigger_locks[True]:
            self._stopped = True
        wasyncore.close_all(self._map)

    def readable(self) -> bool:
        # Waitress's, counting the streams' sockets too (and not their loop's trigger).
        now = time.time()
        if now >= self.next_channel_cleanup:
            self.next_channel_cleanup = now + self.adj.cleanup_interval
            self.maintenance(now)
        open_sockets = len(self._map) + len(self.streams_map) - 1
        return bool(self.accepting and open_sockets < self.adj.connection_limit)

    def maintenance(self, now: float) -> None:
        # Waitress's (over a copy: the streams' loop closes its sockets meanwhile), and the
        # header timeout.
        cutoff = now - self.adj.channel_timeout
        header_cutoff = time.monotonic() - self.header_timeout_s
        for channel in list(self.active_channels.values()):
            if not channel.requests and channel.last_activity < cutoff:
                channel.will_close = True
            request = channel.request
            if (
                request is not None
                and not request.headers_finished
                and request.started < header_cutoff
            ):
                channel.will_close = True


def _proxy_adjustments(http: Http) -> dict[str, Any]:
    """Waitress's settings for the proxy in front, if any: the client's address
    (`REMOTE_ADDR`, which every per-address limit counts) and scheme are the ones the proxy
    at `http.proxy_address` wrote in `X-Forwarded-For` and `X-Forwarded-Proto`, counting
    `http.trusted_proxies` hops from the right. Forwarded headers from anyone else are
    deleted before the app sees them (waitress's `clear_untrusted_proxy_headers`), so a
    client that reaches the hub directly has no say in its own address."""
    if not http.trusted_proxies:
        return {"clear_untrusted_proxy_headers": True}
    return {
        "trusted_proxy": http.proxy_address,
        "trusted_proxy_count": http.trusted_proxies,
        "trusted_proxy_headers": {"x-forwarded-for", "x-forwarded-proto"},
        "clear_untrusted_proxy_headers": True,
    }


class WebServer:
    """`start()` serves `app` in a thread of its own; `stop()` closes every socket."""

    def __init__(
        self,
        app: Flask,
        http: Http,
        *,
        max_body_bytes: int,
        stream_backlog_bytes: int = STREAM_BACKLOG_BYTES,
    ) -> None:
        server = _Server(
            app,
            body_limit_for=lambda method, path: min(max_body_bytes, limit_for(app, method, path)),
            header_timeout_s=http.header_timeout_s,
            stream_backlog_bytes=stream_backlog_bytes,
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
            **_proxy_adjustments(http),
        )
        self._server = server
        self._threads = [
            threading.Thread(target=server.run, name="http", daemon=True),
            threading.Thread(target=server.run_streams, name="http-streams", daemon=True),
        ]

    @property
    def url(self) -> str:
        return f"http://{self._server.effective_host}:{self._server.effective_port}"

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Finish the requests being answered (up to `timeout_s`), then close every socket,
        open streams included; each event loop ends once it has none left."""
        self._server.task_dispatcher.shutdown(timeout=timeout_s)
        self._server.stop_loops()
        for thread in self._threads:
            if thread.ident is not None:  # started
                thread.join(timeout_s)
                if thread.is_alive():
                    log.warning("the HTTP server's %s loop did not stop in time", thread.name)
