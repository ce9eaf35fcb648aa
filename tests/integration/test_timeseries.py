"""Time series through the real nginx proxy into the real InfluxDB 1.6, read back with InfluxQL;
and what the hub's caller sees while either of them is down."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from hub.config import InfluxDb
from hub.intake.timeseries import EventKey, InfluxTimeSeries, TimeSeries, count_events
from telecentre import wire
from tests.servers import InfluxDB, NginxProxy, free_port, influxql
from tests.waiting import wait_until

pytestmark = pytest.mark.influxdb

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def fast_writer(config: InfluxDb, max_points: int = 100_000) -> InfluxTimeSeries:
    """Short pauses between retries, so that a test sees them; the defaults are for production."""
    return InfluxTimeSeries(
        config, max_points=max_points, retry_min_s=0.05, retry_max_s=0.2, timeout_ms=2_000
    )


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def epoch_s(at: datetime) -> int:
    return int(at.timestamp())


@pytest.fixture
def series(influxdb_config: InfluxDb) -> Iterator[InfluxTimeSeries]:
    writer = fast_writer(influxdb_config)
    yield writer
    writer.close(timeout=1)


def calls_return(action: object, timeout: float = 5.0) -> None:
    """Run `action` (a callable) in a thread and fail if it has not returned by the deadline:
    a caller blocked on a dead InfluxDB would be stuck here."""
    assert callable(action)
    done = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            action()
        except BaseException as error:
            errors.append(error)
        finally:
            done.set()

    threading.Thread(target=run, daemon=True).start()
    wait_until(done.is_set, timeout=timeout, message="the caller was blocked")
    assert errors == []


def test_points_are_read_back_with_influxql(
    series: InfluxTimeSeries, influxdb_config: InfluxDb
) -> None:
    series.occupancy("murat", present=1, positions=8, at=minutes(0))
    series.occupancy("murat", present=2, positions=8, at=minutes(5))
    series.occupancy("ydes", present=1, positions=4, at=minutes(5))
    series.events(
        {
            EventKey("murat", "badge", access="granted"): 3,
            EventKey("murat", "badge", access="denied"): 1,
            EventKey("murat", "door"): 4,
            EventKey("ydes", "alarm", kind="door_forced"): 1,
            EventKey("ydes", "exit_request"): 0,  # nothing to record
        },
        at=minutes(6),
    )
    assert series.flush()
    assert series.pending == 0 and series.dropped == 0

    url, db = influxdb_config.url, influxdb_config.bucket
    rows = influxql(url, "SELECT present, positions FROM occupancy GROUP BY site", db)
    assert {s["tags"]["site"]: s["values"] for s in rows} == {
        "murat": [[epoch_s(minutes(0)), 1, 8], [epoch_s(minutes(5)), 2, 8]],
        "ydes": [[epoch_s(minutes(5)), 1, 4]],
    }
    rows = influxql(url, 'SELECT "count" FROM events GROUP BY site, type, access, kind', db)
    got = {tuple(sorted(s["tags"].items())): [v[1] for v in s["values"]] for s in rows}
    assert got == {
        (("access", "denied"), ("kind", ""), ("site", "murat"), ("type", "badge")): [1],
        (("access", "granted"), ("kind", ""), ("site", "murat"), ("type", "badge")): [3],
        (("access", ""), ("kind", ""), ("site", "murat"), ("type", "door")): [4],
        (("access", ""), ("kind", "door_forced"), ("site", "ydes"), ("type", "alarm")): [1],
    }


def test_event_counts_at_the_same_instant_do_not_overwrite_each_other(
    series: InfluxTimeSeries, influxdb_config: InfluxDb
) -> None:
    key = EventKey("murat", "badge", access="granted")
    for _ in range(3):
        series.events({key: 2}, at=minutes(1))
    assert series.flush()
    rows = influxql(
        influxdb_config.url,
        'SELECT count("count"), sum("count") FROM events',
        influxdb_config.bucket,
    )
    assert [v[1:] for v in rows[0]["values"]] == [[3, 6]]


def test_count_events_groups_by_site_type_access_and_kind() -> None:
    events = [
        SimpleNamespace(site="murat", type="badge", access="granted"),
        SimpleNamespace(site="murat", type="badge", access="granted"),
        SimpleNamespace(site="murat", type="badge", access="denied"),
        SimpleNamespace(site="murat", type="door", state="open"),
        SimpleNamespace(site="ydes", type="alarm", kind="door_held_open"),
    ]
    assert count_events(events) == {
        EventKey("murat", "badge", access="granted"): 2,
        EventKey("murat", "badge", access="denied"): 1,
        EventKey("murat", "door"): 1,
        EventKey("ydes", "alarm", kind="door_held_open"): 1,
    }


def test_events_may_be_given_as_the_wire_events_themselves(
    series: InfluxTimeSeries, influxdb_config: InfluxDb
) -> None:
    built = [
        wire.badge_event(site="murat", device="murat-door", badge="04a2b3c4", reader="entrance",
                         direction="toggle", access="granted", clock_synced=True),
        wire.badge_event(site="murat", device="murat-door", badge="04a2b3c5", reader="entrance",
                         direction="toggle", access="denied", reason="unknown", clock_synced=True),
        wire.alarm_event(site="murat", device="murat-door", door="front", kind="door_forced",
                         clock_synced=True),
        wire.door_event(site="murat", device="murat-door", door="front", state="open",
                        clock_synced=True),
    ]  # fmt: skip
    events = [wire.parse_event({**payload, "seq": n}) for n, payload in enumerate(built)]
    series.events(events, at=minutes(0))
    assert series.flush()
    rows = influxql(
        influxdb_config.url,
        'SELECT "count" FROM events GROUP BY type, access, kind',
        influxdb_config.bucket,
    )
    got = {(s["tags"]["type"], s["tags"]["access"], s["tags"]["kind"]) for s in rows}
    assert got == {
        ("badge", "granted", ""),
        ("badge", "denied", ""),
        ("alarm", "", "door_forced"),
        ("door", "", ""),
    }


def test_without_influxdb_configured_nothing_is_recorded() -> None:
    series = TimeSeries.from_config(None)
    assert type(series) is TimeSeries
    series.occupancy("murat", 1, 8, minutes(0))
    series.events({EventKey("murat", "door"): 1}, minutes(0))
    assert series.flush() and series.pending == 0
    series.close()
    with pytest.raises(ValueError, match="naive"):
        series.occupancy("murat", 1, 8, datetime(2026, 11, 23, 8, 0))


def write_demo(series: TimeSeries, start: float, count: int) -> None:
    for i in range(count):
        series.occupancy("murat", present=i % 9, positions=8, at=minutes(start + i))
        series.events({EventKey("murat", "badge", access="granted"): 1}, at=minutes(start + i))


def totals(url: str, db: str) -> tuple[int, int]:
    """(occupancy points, sum of event counts)."""
    occupancy = influxql(url, "SELECT count(present) FROM occupancy", db)
    events = influxql(url, 'SELECT sum("count") FROM events', db)
    return occupancy[0]["values"][0][1], events[0]["values"][0][1]


@pytest.fixture
def own_influxdb() -> Iterator[InfluxDB]:
    """An InfluxDB of this test's own, which it may stop without harming the others."""
    server = InfluxDB()
    server.start()
    yield server
    server.remove()


@pytest.mark.parametrize("down", ["proxy", "influxdb"])
def test_points_wait_while_down_and_arrive_once_after_restart(
    down: str, own_influxdb: InfluxDB
) -> None:
    proxy = NginxProxy(own_influxdb.port)
    proxy.start()
    bucket = "telecentres"
    influxql(proxy.url, f'CREATE DATABASE "{bucket}"')
    config = InfluxDb(url=proxy.url, token="t", org="o", bucket=bucket)
    series = fast_writer(config)
    try:
        write_demo(series, 0, 10)
        assert series.flush()
        assert totals(proxy.url, bucket) == (10, 10)

        # Down: connection refused (proxy) or 502 from the proxy (InfluxDB).
        server: NginxProxy | InfluxDB = proxy if down == "proxy" else own_influxdb
        server.stop()
        calls_return(lambda: write_demo(series, 10, 50))
        wait_until(lambda: series.failures >= 2, message="no retry while down")
        assert series.pending == 100
        assert not series.flush(timeout=0.2)
        calls_return(lambda: write_demo(series, 60, 50))
        assert series.pending == 200

        server.start()
        # Caught up by the retries alone, nobody asking for a flush.
        wait_until(lambda: series.pending == 0, timeout=10, message="queue not drained")
        assert series.dropped == 0
        assert series.written == 220
        assert totals(proxy.url, bucket) == (110, 110)
        rows = influxql(proxy.url, "SELECT present FROM occupancy", bucket)
        assert [row[0] for row in rows[0]["values"]] == [epoch_s(minutes(i)) for i in range(110)]
    finally:
        series.close(timeout=1)
        proxy.remove()


def test_points_written_before_the_database_exists_arrive_once_it_does(influxdb: str) -> None:
    bucket = f"test_{uuid.uuid4().hex[:12]}"
    series = fast_writer(InfluxDb(url=influxdb, token="t", org="o", bucket=bucket))
    try:
        write_demo(series, 0, 5)
        wait_until(lambda: series.failures >= 1)  # 404: database not found
        assert series.pending == 10
        influxql(influxdb, f'CREATE DATABASE "{bucket}"')
        wait_until(lambda: series.pending == 0, timeout=10)
        assert totals(influxdb, bucket) == (5, 5)
    finally:
        series.close(timeout=1)
        influxql(influxdb, f'DROP DATABASE "{bucket}"')


def test_a_full_queue_drops_the_oldest_points_and_counts_them() -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    config = InfluxDb(url=nobody, token="t", org="o", bucket="telecentres")
    series = fast_writer(config, max_points=25)
    try:
        calls_return(lambda: write_demo(series, 0, 20))
        assert series.pending == 25
        assert series.dropped == 15
    finally:
        series.close(timeout=0.2)
    assert series.pending == 25  # given up at close, not written
