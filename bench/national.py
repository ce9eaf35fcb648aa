"""A national network's morning peak: `.venv/bin/python -m bench.national [--sites 1000]
[--badges 100000] [--events 20000] [--rate 1500] [--processes 2]`.

Prints figures as JSON, asserts nothing (docs/operations.md, "Sizing"). One PostgreSQL
database holds `--sites` sites and `--badges` members; `--processes` hub processes share
the subscription (`$share/hub/…`) on one Mosquitto with the project's limits. A paho-mqtt
publisher offers the morning's arrivals at `--rate` taps/s, each a member's first tap of the
day at its home site's door (`seq` per door, stamped as sent), QoS 1. Measured:
- the sustained rate: taps committed per second, from the first publish to the last commit;
- end to end, from each publish to the moment its session is seen committed in the database
  (a watcher reads new sessions every 50 ms: that granularity is in the figures), median and
  p99;
- nothing lost: every tap stored once, one session per member;
- how long the hub processes took to start (each builds, signs and publishes every site's
  access list), and one list's size as the broker holds it;
- PostgreSQL's bytes per event, per `event_ids` row and per session, indexes included (for
  the database's size per year);
- beside them, in the same run, a bare subscriber's rate (paho → one INSERT per batch →
  commit, no rules; `bench.hub.BareSubscriber`) on the same taps published as fast as they go.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select, text

from bench.hub import (
    Databases,
    badge_of,
    bare_rate,
    members_csv,
    site_ids,
    sites_yaml,
    start_workers,
    stop_workers,
    wait_until,
    write_files,
)
from hub.store import make_engine
from hub.store.models import Event
from telecentre import wire
from tests.servers import Mosquitto, Postgres

#: How long each hub process may take to start: building, signing and publishing every
#: site's access list (1,000 lists of 100,000 badges at the default size) is most of it.
START_TIMEOUT_S = 600.0


def retained_list_bytes(port: int, site: str) -> int:
    """The size of the access list the broker holds for `site`, as an edge receives it."""
    sizes: list[int] = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-edge")
    client.on_message = lambda _client, _userdata, message: sizes.append(len(message.payload))
    client.connect("127.0.0.1", port)
    client.subscribe(wire.access_topic(site), qos=1)
    client.loop_start()
    try:
        wait_until(lambda: bool(sizes), 60, f"no access list retained for {site}", 0.1)
    finally:
        client.loop_stop()
        client.disconnect()
    return sizes[0]


def resident_mb(server: Mosquitto) -> int:
    """The broker's resident memory: mostly the retained access lists."""
    assert server.process is not None
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    [line] = [line for line in status.splitlines() if line.startswith("VmRSS:")]
    return int(line.split()[1]) // 1024


def morning(events: int, sites: Sequence[str], badges: int) -> list[tuple[str, str, str]]:
    """`events` arrivals `(site, device, badge)`: distinct members, each at its home site."""
    step = max(1, badges // events)
    return [
        (sites[member % len(sites)], f"{sites[member % len(sites)]}-door", badge_of(member))
        for member in range(0, step * events, step)
    ][:events]


def payload(site: str, device: str, badge: str, seq: int) -> tuple[str, bytes]:
    event = wire.badge_event(
        site=site, device=device, badge=badge, reader="entrance", direction="in",
        access="granted", clock_synced=True,
    )  # fmt: skip
    event_id = str(uuid.uuid4())
    stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
    event |= {"id": event_id, "seq": seq, "ts": stamp}
    return event_id, json.dumps(event, separators=(",", ":")).encode()


class Watcher:
    """Sees sessions appear: the time each start event's session was first read committed.

    Two hub processes commit sessions out of id order (one takes ids 1-500 and commits after
    the other has committed 501-1000), so each read starts at the highest id below which every
    id was read (`floor`), not at the highest id read; a gap no commit fills within `GAP_S`
    (a rolled-back batch's ids) is passed over."""

    GAP_S = 10.0

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self.seen: dict[str, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        floor, above, stuck_since = 0, set[int](), time.monotonic()
        query = text("SELECT id, start_event_id FROM sessions WHERE id > :floor ORDER BY id")
        while not self.stop.is_set():
            with self.engine.connect() as connection:
                rows = connection.execute(query, {"floor": floor}).all()
            now = time.monotonic()
            for row_id, event_id in rows:
                self.seen.setdefault(event_id, now)
                above.add(row_id)
            if above and floor + 1 not in above and now - stuck_since > self.GAP_S:
                floor = min(above) - 1
            if not above or floor + 1 in above:
                stuck_since = now
            while floor + 1 in above:
                floor += 1
                above.discard(floor)
            self.stop.wait(0.05)


def peak(
    workdir: Path,
    url: str,
    arrivals: list[tuple[str, str, str]],
    rate: float,
    processes: int,
    broker_persistence: bool,
) -> dict[str, object]:
    extra = "" if broker_persistence else "allow_anonymous true\npersistence false\n"
    server = Mosquitto(workdir / "broker", extra)
    server.start()
    try:
        started = time.monotonic()
        workers = start_workers(workdir, url, server.port, processes, START_TIMEOUT_S)
        hubs_started = time.monotonic() - started
        list_bytes = retained_list_bytes(server.port, arrivals[0][0])
        broker_mb = resident_mb(server)
        watcher = Watcher(url)
        watcher.thread.start()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-doors")
        client.max_inflight_messages_set(1000)
        client.connect("127.0.0.1", server.port)
        client.loop_start()
        sent: dict[str, float] = {}
        seqs: dict[str, int] = {}
        start = time.monotonic()
        for n, (site, device, badge) in enumerate(arrivals):
            time.sleep(max(0.0, start + n / rate - time.monotonic()))
            seqs[device] = seqs.get(device, 0) + 1
            event_id, body = payload(site, device, badge, seqs[device])
            sent[event_id] = time.monotonic()
            client.publish(wire.events_topic(site, device), body, qos=1)
        offered = len(arrivals) / (time.monotonic() - start)
        wait_until(lambda: len(watcher.seen) >= len(arrivals), 600, "sessions missing", 0.1)
        watcher.stop.set()
        watcher.thread.join()
        client.loop_stop()
        client.disconnect()
        stop_workers(workers)
    finally:
        # Killed, not stopped: saving its persistence (every site's list, gigabytes at the
        # default size) would outlast `Mosquitto.stop`'s wait, and the run needs none of it.
        server.kill()
    latencies = sorted(watcher.seen[i] - sent[i] for i in sent if i in watcher.seen)
    engine = make_engine(url)
    with engine.connect() as connection:
        stored = connection.scalar(select(func.count()).select_from(Event)) or 0
        sessions = connection.scalar(text("SELECT count(DISTINCT member_id) FROM sessions")) or 0
        size = "SELECT pg_total_relation_size('{0}') / greatest(count(*), 1) FROM {0}"
        row_bytes = {
            table: connection.scalar(text(size.format(table)))
            for table in ("events", "event_ids", "sessions")
        }
    engine.dispose()
    last = max(watcher.seen.values())
    return {
        "hubs_started_s": round(hubs_started, 1),
        "access_list_bytes": list_bytes,
        "broker_resident_mb_after_start": broker_mb,
        "offered_per_s": round(offered),
        "committed_per_s": round(len(arrivals) / (last - start)),
        "publish_to_session_ms": {
            "median": round(statistics.median(latencies) * 1000),
            "p99": round(latencies[int(0.99 * (len(latencies) - 1))] * 1000),
        },
        "lost": len(arrivals) - stored,
        "members_with_a_session": sessions,
        "bytes_per_row_with_indexes": row_bytes,
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.national", description=__doc__)
    parser.add_argument("--sites", type=int, default=1000)
    parser.add_argument("--badges", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=1500.0, help="taps/s the peak offers")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument(
        "--no-broker-persistence",
        action="store_true",
        help="the broker keeps nothing on disk (to see what saving the lists costs it)",
    )
    args = parser.parse_args(argv)
    sites = site_ids(args.sites)
    arrivals = morning(args.events, sites, args.badges)
    postgres = Postgres()
    postgres.start()
    try:
        with tempfile.TemporaryDirectory() as temporary:
            workdir = Path(temporary)
            databases = Databases(workdir, postgres)
            network = (sites_yaml(sites), members_csv(args.badges))
            url = databases.fresh("postgresql", *network)
            figures = peak(
                workdir / "peak",
                url,
                arrivals,
                args.rate,
                args.processes,
                broker_persistence=not args.no_broker_persistence,
            )
            lines: dict[str, list[str]] = {}
            seqs: dict[str, int] = {}
            for site, device, badge in arrivals:
                seqs[device] = seqs.get(device, 0) + 1
                lines.setdefault(site, []).append(
                    payload(site, device, badge, seqs[device])[1].decode()
                )
            files = write_files(lines, workdir / "taps")
            bare_url = databases.fresh("postgresql")
            bare = bare_rate(workdir / "bare", bare_url, files, len(arrivals), 1000)
    finally:
        postgres.remove()
    print(
        json.dumps(
            {
                "network": {"sites": args.sites, "badges": args.badges, "taps": args.events},
                "hub_processes": args.processes,
                "broker_persistence": not args.no_broker_persistence,
                "peak": figures,
                "bare_subscriber_per_s": round(bare),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
