"""Occupancy and event counts as time series in InfluxDB, for the network's dashboards.

Two measurements (dashboards/README.md shows the queries):
- `occupancy`, tag `site`, fields `present` and `positions` (integers): one point on every
  change of who is in a site.
- `events`, tags `site`, `type`, and `access` (badge events) or `kind` (alarms), field
  `count` (integer): how many events of that sort a batch brought.

The hub must go on when InfluxDB (or the proxy in front of it) is down: `occupancy()` and
`events()` only append a line to an in-memory queue and return. One background thread
writes the queue in batches, oldest first, and retries a failed batch with a growing pause
until it goes through, so the series catch up after an outage, in order. A retried batch
that had in fact arrived does no harm: InfluxDB keeps one point per series and timestamp.

The queue is bounded (`max_points`, 100,000 by default: days of changes for the whole
network); past that the oldest points are dropped and counted in `dropped`. It is kept in
memory, not on disk, by choice: the series are statistics derived from the store (sessions
and events), so points still queued when the hub process stops are lost rather than worth
a second database; `close()` gives the queue a last chance to drain.

>>> series = TimeSeries.from_config(config.influxdb)      # doctest: +SKIP
>>> series.occupancy("murat", present=3, positions=8, at=utcnow())   # doctest: +SKIP
>>> series.events(count_events(batch), at=utcnow())                 # doctest: +SKIP
>>> series.close()                                                  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Protocol, Self

from hub.config import InfluxDb

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: HTTP statuses that say the points themselves are wrong: retrying them would never succeed.
_PERMANENT = frozenset({400, 413, 422})


@dataclass(frozen=True, order=True)
class EventKey:
    """What an `events` point counts: events of one `type` at one `site`, and for badge
    events one `access` (`granted`/`denied`), for alarms one `kind`."""

    site: str
    type: str
    access: str | None = None
    kind: str | None = None


class CountedEvent(Protocol):
    """Any event with a site and a type (the wire's events, the store's rows)."""

    @property
    def site(self) -> str: ...

    @property
    def type(self) -> str: ...


def count_events(events: Iterable[CountedEvent]) -> Counter[EventKey]:
    """How many events of each sort, for `TimeSeries.events`."""
    counts: Counter[EventKey] = Counter()
    for event in events:
        access = getattr(event, "access", None) if event.type == "badge" else None
        kind = getattr(event, "kind", None) if event.type == "alarm" else None
        counts[EventKey(event.site, event.type, access, kind)] += 1
    return counts


#: What `TimeSeries.events` takes: counts by sort, or the events to count.
EventCounts = Mapping[EventKey, int] | Iterable[CountedEvent]


def _nanoseconds(at: datetime) -> int:
    if at.tzinfo is None:
        raise ValueError(f"naive datetime {at!r}: time series only take aware datetimes")
    return ((at - _EPOCH) // timedelta(microseconds=1)) * 1000


def _escape_tag(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def _line(measurement: str, tags: Mapping[str, str | None], fields: str, ns: int) -> str:
    """One point in line protocol; tags sorted by key (as InfluxDB stores them), None left out."""
    tag_text = "".join(
        f",{key}={_escape_tag(value)}" for key, value in sorted(tags.items()) if value
    )
    return f"{measurement}{tag_text} {fields} {ns}"


class TimeSeries:
    """The time series the hub records; this base records nothing (no InfluxDB configured).

    >>> TimeSeries.from_config(None).occupancy("murat", 3, 8, utcnow())   # doctest: +SKIP
    """

    @staticmethod
    def from_config(config: InfluxDb | None, **options: Any) -> TimeSeries:
        """An `InfluxTimeSeries` writing to `config`, or a no-op `TimeSeries` when None.
        `options` go to `InfluxTimeSeries` (queue size, retry pauses)."""
        if config is None:
            return TimeSeries()
        return InfluxTimeSeries(config, **options)

    def occupancy(self, site: str, present: int, positions: int, at: datetime) -> None:
        """Record that `present` members are in `site`, which has `positions`, since `at`."""
        _nanoseconds(at)

    def events(self, counts: EventCounts, at: datetime) -> None:
        """Record how many events of each sort arrived at `at`: counts by `EventKey` (zero
        ones are left out), or the events themselves, counted with `count_events`."""
        _nanoseconds(at)

    @property
    def pending(self) -> int:
        """Points not written yet (queued or being written)."""
        return 0

    @property
    def dropped(self) -> int:
        """Points given up: the queue was full, or InfluxDB refused them as malformed."""
        return 0

    def flush(self, timeout: float = 10.0) -> bool:
        """Write what is queued now, without waiting out a retry pause; whether the queue
        was empty within `timeout` seconds."""
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Flush for at most `timeout` seconds, then stop; points still queued are lost."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class InfluxTimeSeries(TimeSeries):
    """Time series written to InfluxDB through `influxdb-client`'s v2 write API, from a
    bounded queue, by a background thread that retries until InfluxDB takes the points."""

    def __init__(
        self,
        config: InfluxDb,
        *,
        max_points: int = 100_000,
        batch_size: int = 5_000,
        retry_min_s: float = 0.5,
        retry_max_s: float = 30.0,
        timeout_ms: int = 5_000,
    ) -> None:
        if max_points < 1 or batch_size < 1:
            raise ValueError("max_points and batch_size must be at least 1")
        from influxdb_client.client.influxdb_client import InfluxDBClient
        from influxdb_client.client.write_api import SYNCHRONOUS

        self.config = config
        self.max_points = max_points
        self.batch_size = batch_size
        self.retry_min_s = retry_min_s
        self.retry_max_s = retry_max_s
        self._client: Any = InfluxDBClient(
            url=config.url, token=config.token, org=config.org, timeout=timeout_ms
        )
        self._write_api: Any = self._client.write_api(write_options=SYNCHRONOUS)
        self._queue: deque[str] = deque()
        self._in_flight = 0
        self._dropped = 0
        self._written = 0
        self._failures = 0
        self._last_events_ns = 0
        self._hurry = False
        self._stopping = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="timeseries", daemon=True)
        self._thread.start()

    # What the hub calls: never blocks on InfluxDB, never raises for it.

    def occupancy(self, site: str, present: int, positions: int, at: datetime) -> None:
        ns = _nanoseconds(at)
        fields = f"present={int(present)}i,positions={int(positions)}i"
        self._put([_line("occupancy", {"site": site}, fields, ns)])

    def events(self, counts: EventCounts, at: datetime) -> None:
        ns = _nanoseconds(at)
        if not isinstance(counts, Mapping):
            counts = count_events(counts)
        with self._changed:
            # Two calls at the same instant would overwrite each other's points (same series,
            # same timestamp): each call gets a later nanosecond than the one before.
            ns = max(ns, self._last_events_ns + 1)
            self._last_events_ns = ns
        lines = [
            _line(
                "events",
                {"site": key.site, "type": key.type, "access": key.access, "kind": key.kind},
                f"count={int(count)}i",
                ns,
            )
            for key, count in sorted(counts.items())
            if count
        ]
        self._put(lines)

    @property
    def pending(self) -> int:
        with self._changed:
            return len(self._queue) + self._in_flight

    @property
    def dropped(self) -> int:
        with self._changed:
            return self._dropped

    @property
    def written(self) -> int:
        """Points InfluxDB has taken since this writer started."""
        with self._changed:
            return self._written

    @property
    def failures(self) -> int:
        """Failed write attempts since this writer started."""
        with self._changed:
            return self._failures

    def flush(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._changed:
            self._hurry = True
            self._changed.notify_all()
            while self._queue or self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._thread.is_alive():
                    return False
                self._changed.wait(remaining)
            return True

    def close(self, timeout: float = 5.0) -> None:
        self.flush(timeout)
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        self._thread.join(timeout=max(timeout, 1.0))
        left = self.pending
        if left:
            log.warning("time series: %d points not written to InfluxDB are lost", left)
        self._client.close()

    # The writer thread.

    def _put(self, lines: list[str]) -> None:
        if not lines:
            return
        with self._changed:
            if self._stopping:
                self._dropped += len(lines)
                return
            self._queue.extend(lines)
            overflow = len(self._queue) + self._in_flight - self.max_points
            if overflow > 0:
                if not self._dropped:
                    log.warning("time series: queue full, dropping the oldest points")
                for _ in range(min(overflow, len(self._queue))):
                    self._queue.popleft()
                self._dropped += overflow
            self._changed.notify_all()

    def _take(self) -> list[str] | None:
        """The next batch, oldest first; None when stopping with nothing (more) to do."""
        with self._changed:
            while not self._queue and not self._stopping:
                self._hurry = False
                self._changed.notify_all()  # flush() waits for an empty queue
                self._changed.wait()
            if not self._queue:
                return None
            batch = [self._queue.popleft() for _ in range(min(self.batch_size, len(self._queue)))]
            self._in_flight = len(batch)
            return batch

    def _run(self) -> None:
        pause = self.retry_min_s
        while (batch := self._take()) is not None:
            try:
                self._write_api.write(bucket=self.config.bucket, org=self.config.org, record=batch)
            except Exception as error:  # any failure of I/O: the points wait for the next try
                status = getattr(error, "status", None)
                with self._changed:
                    self._in_flight = 0
                    self._failures += 1
                    if status in _PERMANENT:
                        self._dropped += len(batch)
                        log.error("time series: InfluxDB refused %d points: %s", len(batch), error)
                        continue
                    if self._failures == 1 or pause == self.retry_min_s:
                        log.warning("time series: InfluxDB unreachable, points wait: %s", error)
                    # Back in front, in order; the bound counted them while in flight.
                    self._queue.extendleft(reversed(batch))
                    if self._stopping:
                        return
                    deadline = time.monotonic() + pause
                    while not (self._hurry or self._stopping):
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            break
                        self._changed.wait(remaining)
                    self._hurry = False
                pause = min(pause * 2, self.retry_max_s)
            else:
                with self._changed:
                    self._in_flight = 0
                    self._written += len(batch)
                    self._changed.notify_all()
                if pause != self.retry_min_s:
                    log.info("time series: InfluxDB reachable again")
                pause = self.retry_min_s
