"""Console benchmarks: `.venv/bin/python -m bench.console [--boards 100] [--taps 20]
[--idle-streams 1000]`.

Prints figures as JSON, asserts nothing. The hub service (`hub.service.Hub`) runs on a real
Mosquitto and SQLite with 12 sites, 2,000 members and a year of sessions; it is asked:
- the board (`GET /`, the department's: all 12 sites): median and p95 response time, next to
  the baseline of the same server's `GET /api/v1/health` (the HTTP stack alone);
- the same with `--idle-streams` boards' streams open on raw sockets (kept open, read by
  nobody but the kernel) and `--boards` live boards (Server-Sent Events clients that
  reconnect as browsers do), and how many threads the hub process runs meanwhile: open
  boards hold sockets, not threads;
- tap → every one of the `--boards` open boards has the site's new row (a `mosquitto_pub`
  of a badge event, as the device sends it): median and p95 over `--taps` taps, next to the
  broker's own relay of the same message (`mosquitto_pub` → a subscriber) and to the same
  server's health answer (the HTTP stack);
- tap → the board's DOM changes in Chromium (Playwright, Debian's chromium): median and p95
  over `--browser-taps` taps, while all the above are open.

Aims on a 2-core machine like CI's: pages p95 < 150 ms; tap → a board in Chromium p95 <
500 ms; tap → each of 100 open boards p95 < 1 s.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import http.cookiejar
import json
import re
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.hub import bulk_sessions, members_csv, session_rows, site_ids, sites_yaml
from hub.config import HubConfig
from hub.console.board import STREAMS
from hub.people import users
from hub.people.imports import import_members, import_sites
from hub.service import Hub
from telecentre import wire
from tests.console import CHROMIUM, CHROMIUM_ARGS, PASSWORD
from tests.servers import Mosquitto, free_port

SITES = site_ids(12)
MEMBERS = 2000
LOGIN = "bench"
#: A site's card (`site-…`) or its row of the network view (`row-…`) in a stream's event.
CARD = re.compile(r'<(?:section|tr) [^>]*\bid="(?:site|row)-([^"]+)"')


def percentiles(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "median_ms": round(1000 * statistics.median(ordered), 1),
        "p95_ms": round(1000 * p95, 1),
        "n": len(ordered),
    }


def seeded_hub(workdir: Path, broker: Mosquitto) -> Hub:
    url = f"sqlite:///{workdir / 'hub.db'}"
    config = HubConfig.model_validate(
        {
            "state_dir": str(workdir),
            "database": {"url": url},
            "mqtt": {"port": broker.port},
            "http": {"port": free_port(), "connection_limit": 10_000},
            # Every board here is one account's: all of them held open, as many accounts'.
            "console": {"streams_per_account": 10_000},
        }
    )
    hub = Hub(config)  # migrates
    with hub.sessions.begin() as session:
        import_sites(session, sites_yaml(SITES))
        import_members(session, members_csv(MEMBERS))
        users.create_user(
            session,
            login=LOGIN,
            display_name="Bench",
            role="department",
            password=PASSWORD,
            actor="bench",
        )
    today = datetime.now(UTC).date()
    year = session_rows(
        SITES, MEMBERS, today - timedelta(days=365), today - timedelta(days=1), 3.0, 7
    )
    bulk_sessions(hub.engine, year)
    hub.start()
    return hub


def session_cookie(base: str) -> str:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{base}/login").read().decode()
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert match is not None
    form = {"login": LOGIN, "password": PASSWORD, "csrf_token": match.group(1)}
    opener.open(f"{base}/login", data=urllib.parse.urlencode(form).encode()).read()
    return next(f"{c.name}={c.value}" for c in jar if c.name == "telecentre_session")


def timed_gets(base: str, path: str, cookie: str, count: int) -> dict[str, float]:
    host, port = base.removeprefix("http://").split(":")
    seconds = []
    for _ in range(count):
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        start = time.perf_counter()
        connection.request("GET", path, headers={"Cookie": cookie})
        answer = connection.getresponse()
        answer.read()
        seconds.append(time.perf_counter() - start)
        assert answer.status == 200, answer.status
        connection.close()
    return percentiles(seconds)


class Board(threading.Thread):
    """One open board: an EventSource-like client that reconnects with its last event id and
    notes when each site's card arrived."""

    def __init__(self, base: str, cookie: str, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.host, port = base.removeprefix("http://").split(":")
        self.port = int(port)
        self.cookie = cookie
        self.stop = stop
        self.last_id = ""
        self.arrivals: list[tuple[float, str]] = []  # (monotonic time, site)
        self.connected = threading.Event()

    def run(self) -> None:
        retry = 1.0
        while not self.stop.is_set():
            with contextlib.suppress(OSError):  # the hub restarting: come back as browsers do
                retry = self._once(retry)
            self.stop.wait(retry)

    def _once(self, retry: float) -> float:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
        headers = {"Cookie": self.cookie, "Accept": "text/event-stream"}
        if self.last_id:
            headers["Last-Event-ID"] = self.last_id
        connection.request("GET", "/board/stream", headers=headers)
        answer = connection.getresponse()
        self.connected.set()
        event, data_id = "", ""
        while not self.stop.is_set():
            line = answer.readline()
            if not line:
                break
            text = line.decode().rstrip("\n")
            if text.startswith("retry: "):
                retry = int(text[7:]) / 1000
            elif text.startswith("event: "):
                event = text[7:]
            elif text.startswith("id: "):
                data_id = text[4:]
            elif text.startswith("data: ") and event == "site" and (card := CARD.search(text)):
                self.arrivals.append((time.monotonic(), card.group(1)))
            elif text == "" and data_id:
                self.last_id, event = data_id, ""
        connection.close()
        return retry


def threads_of_process() -> int:
    return int(Path("/proc/self/status").read_text().split("Threads:")[1].split()[0])


def publish_tap(broker: Mosquitto, site: str, seq: int) -> float:
    event = wire.badge_event(
        site=site,
        device=f"{site}-door",
        badge=f"04{seq % MEMBERS:010X}",
        reader="entrance",
        direction="toggle",
        access="granted",
        clock_synced=True,
    )
    payload = json.dumps({**event, "seq": seq})
    sent = time.monotonic()
    subprocess.run(
        [
            "mosquitto_pub",
            "-h",
            "127.0.0.1",
            "-p",
            str(broker.port),
            "-q",
            "1",
            "-t",
            wire.events_topic(site, f"{site}-door"),
            "-m",
            payload,
        ],
        check=True,
    )
    return sent


def relay_baseline(broker: Mosquitto, count: int) -> dict[str, float]:
    """`mosquitto_pub` → a subscriber, the broker's own share of tap → board."""
    seconds = []
    for n in range(count):
        topic = f"bench/relay/{n}"
        watch = subprocess.Popen(
            [
                "mosquitto_sub",
                "-h",
                "127.0.0.1",
                "-p",
                str(broker.port),
                "-t",
                topic,
                "-C",
                "1",
                "-W",
                "10",
            ],
            stdout=subprocess.PIPE,
        )
        time.sleep(0.2)  # subscribed
        start = time.monotonic()
        subprocess.run(
            [
                "mosquitto_pub",
                "-h",
                "127.0.0.1",
                "-p",
                str(broker.port),
                "-q",
                "1",
                "-t",
                topic,
                "-m",
                "x",
            ],
            check=True,
        )
        assert watch.stdout is not None
        watch.stdout.readline()
        seconds.append(time.monotonic() - start)
        watch.wait()
    return percentiles(seconds)


def idle_streams(hub: Hub, cookie: str, count: int) -> list[socket.socket]:
    """`count` boards' streams on raw sockets, open until closed, as browsers that reconnect
    with the last change they saw (their first answer has no card); the changes and
    heartbeats sent to them wait in the kernel's buffers."""
    host, port = hub.url.removeprefix("http://").split(":")
    request = (
        "GET /board/stream HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n"
        f"Last-Event-ID: {hub.changes.epoch}:{hub.changes.seq}\r\n"
        f"Cookie: {cookie}\r\n\r\n"
    ).encode()
    sockets = []
    for _ in range(count):
        client = socket.create_connection((host, int(port)), timeout=30)
        client.sendall(request)
        sockets.append(client)
    for client in sockets:
        client.recv(1)  # answered: the stream is open
    return sockets


def streams_figures(
    hub: Hub,
    broker: Mosquitto,
    cookie: str,
    boards: int,
    taps: int,
    page_requests: int,
    idle: list[socket.socket],
) -> dict[str, Any]:
    stop = threading.Event()
    clients = [Board(hub.url, cookie, stop) for _ in range(boards)]
    before = threads_of_process()
    for client in clients:
        client.start()
    for client in clients:
        client.connected.wait(30)
    time.sleep(3)  # every board has its first cards
    threads_open = threads_of_process() - before - boards  # the hub's, not the clients'
    page = timed_gets(hub.url, "/", cookie, page_requests)
    latencies: list[float] = []
    missed = 0
    for n in range(taps):
        site = SITES[n % len(SITES)]
        sent = publish_tap(broker, site, 10_000 + n)
        deadline = time.monotonic() + 10
        for client in clients:
            while time.monotonic() < deadline:
                arrived = [t for t, s in client.arrivals if s == site and t >= sent]
                if arrived:
                    latencies.append(arrived[0] - sent)
                    break
                time.sleep(0.01)
            else:
                missed += 1
        time.sleep(0.3)
    stop.set()
    return {
        "open_boards": boards,
        "idle_streams_open": len(idle),
        "baseline_health_with_boards_open": timed_gets(hub.url, "/api/v1/health", cookie, 20),
        "board_page_with_boards_open": page,
        "hub_threads_added_by_open_boards": threads_open,
        "streams_open_in_the_hub": hub.app.extensions[STREAMS].count,
        "tap_to_every_open_board": percentiles(latencies) if latencies else None,
        "boards_missing_a_tap": missed,
    }


def browser_figures(hub: Hub, broker: Mosquitto, cookie: str, taps: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    name, value = cookie.split("=", 1)
    latencies = []
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = chromium.new_context(locale="fr-FR", bypass_csp=True)  # the probe is a script
        context.add_cookies([{"name": name, "value": value, "url": hub.url}])
        page = context.new_page()
        page.goto(f"{hub.url}/")
        page.wait_for_timeout(1500)
        site = SITES[0]
        for n in range(taps):
            page.evaluate(
                """site => { window.changed = null; const board = document.getElementById('board');
                   new MutationObserver((_, observer) => { window.changed = performance.now();
                   observer.disconnect(); }).observe(board, {childList: true, subtree: true}); }""",
                site,
            )
            start = page.evaluate("performance.now()")
            publish_tap(broker, site, 20_000 + n)
            page.wait_for_function("window.changed !== null", timeout=10_000)
            latencies.append((page.evaluate("window.changed") - start) / 1000)
        chromium.close()
    return {"tap_to_board_dom_in_chromium": percentiles(latencies)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.console", description=__doc__)
    parser.add_argument("--boards", type=int, default=100)
    parser.add_argument("--taps", type=int, default=20)
    parser.add_argument("--browser-taps", type=int, default=50)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--idle-streams", type=int, default=1000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-console-") as folder:
        workdir = Path(folder)
        with Mosquitto(workdir / "broker") as broker:
            hub = seeded_hub(workdir, broker)
            try:
                cookie = session_cookie(hub.url)
                results: dict[str, Any] = {
                    "network": {
                        "sites": len(SITES),
                        "members": MEMBERS,
                        "sessions": "a year",
                        "http_threads": hub.config.http.threads,
                    },
                    "baseline_health": timed_gets(hub.url, "/api/v1/health", cookie, args.requests),
                    "board_page": timed_gets(hub.url, "/", cookie, args.requests),
                    "baseline_broker_relay": relay_baseline(broker, 10),
                }
                idle = idle_streams(hub, cookie, args.idle_streams)
                results |= streams_figures(
                    hub, broker, cookie, args.boards, args.taps, args.requests, idle
                )
                results |= browser_figures(hub, broker, cookie, args.browser_taps)
                for client in idle:
                    client.close()
                results["aims"] = {
                    "pages_p95_ms": 150,
                    "tap_to_board_dom_p95_ms": 500,
                    "tap_to_each_of_100_boards_p95_ms": 1000,
                }
            finally:
                hub.stop()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
