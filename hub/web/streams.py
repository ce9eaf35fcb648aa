"""Answers kept open (the live board's Server-Sent Events): what a view and the HTTP server
agree on, apart from the server, so that the console holds streams without depending on the
server that carries them (`hub.web.server`, which implements `Stream` and `Loop`).

Every request's environ offers a `Handover` (`environ[HANDOVER]`): a view that has checked
who asks calls `accept(opened)` and answers its headers and first events; the server then
frees the worker thread, keeps the socket open in an event loop of its own and calls
`opened(stream)`. `send` queues bytes on many streams at once, from any thread, never
blocking: one wake-up of each loop for all of its streams.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from typing import Protocol

#: The environ key of each request's `Handover`.
HANDOVER = "telecentre.handover"


class Loop(Protocol):
    """The event loop that owns a stream's socket."""

    def call_soon(self, thunk: Callable[[], None]) -> None:
        """Run `thunk` in the loop's thread as soon as it wakes; called from any thread,
        never blocking."""


class Stream(ABC):
    """An answer kept open in its server's event loop until the client goes, `send(...,
    end=True)` ends it or the server stops."""

    @property
    @abstractmethod
    def closed(self) -> bool:
        """Whether it has ended: nothing sent to it arrives any more."""

    @property
    @abstractmethod
    def loop(self) -> Loop:
        """The loop that writes to it: `send` wakes each loop once, whatever its streams."""

    @abstractmethod
    def write(self, data: bytes, end: bool) -> None:
        """In its loop's thread only (`send` calls it there): the loop owns the socket."""


class Handover:
    """Offered in each request's environ (`HANDOVER`): `accept(opened)` from the view keeps
    the answer open once written, frees the worker thread and calls `opened(stream)` (from
    that worker thread, once the loop owns the socket). Only a 200 answer to a GET without a
    `Content-Length` (a streamed body) is kept open; any other answer ends as usual."""

    def __init__(self) -> None:
        self.opened: Callable[[Stream], None] | None = None

    def accept(self, opened: Callable[[Stream], None]) -> None:
        self.opened = opened


def send(items: Iterable[tuple[Stream, bytes]], *, end: bool = False) -> None:
    """Queue each `data` on its `stream` (and end them if `end`), from any thread, without
    blocking: one wake-up of each event loop for all of its streams."""
    by_loop: dict[Loop, list[tuple[Stream, bytes]]] = {}
    for stream, data in items:
        by_loop.setdefault(stream.loop, []).append((stream, data))
    for loop, batch in by_loop.items():

        def write(batch: list[tuple[Stream, bytes]] = batch) -> None:
            for stream, data in batch:
                stream.write(data, end)

        loop.call_soon(write)
