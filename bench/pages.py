"""Console page benchmarks: `.venv/bin/python -m bench.pages [--requests 60]` (the members,
sessions, sites and reports pages; `bench.console` measures the live board).

A 12-site network with 2,000 members (each with a badge) and a year of sessions (2026) on
SQLite, the hub's app on a real threaded HTTP server (werkzeug, as `telecentre-hub` serves
it), a signed-in department user and animator: each page is asked `--requests` times, one
after the other, and its response time (request sent → body read) printed as median and p95
in ms, next to the same server's `GET /api/v1/health` and a static file measured in the same
run (the floor of any page). Prints JSON, asserts nothing.

What we aim for on a 2-core machine like CI's: pages p95 < 150 ms.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import logging
import re
import statistics
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from werkzeug.serving import make_server

from bench.hub import bulk_sessions, members_csv, session_rows, site_ids, sites_yaml
from hub.config import HubConfig
from hub.people.imports import import_members, import_sites
from hub.people.users import create_user
from hub.reports.months import refresh
from hub.store import make_engine, make_sessionmaker, migrate
from hub.store.models import Event
from hub.web.app import create_app

PASSWORD = "un mot de passe de banc d'essai"
GOAL_MS = 150.0


class Browser:
    """One signed-in person: a cookie jar and the console's login form."""

    def __init__(self, base: str, login: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        page = self.get("/login")
        match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or re.search(
            r'type="hidden" name="csrf_token" value="([^"]+)"', page
        )
        assert match is not None, "no CSRF token on the login page"
        form = {"login": login, "password": PASSWORD, "csrf_token": match.group(1)}
        data = urllib.parse.urlencode(form).encode()
        with self.opener.open(self.base + "/login", data=data, timeout=30) as answer:
            answer.read()
            assert not answer.url.endswith("/login"), f"{login} could not sign in"

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=30) as answer:
            assert answer.status == 200, (path, answer.status)
            return str(answer.read().decode())

    def timed(self, path: str, requests: int) -> dict[str, float]:
        self.get(path)  # warm: templates compiled, caches filled
        times = []
        for _ in range(requests):
            start = time.perf_counter()
            self.get(path)
            times.append((time.perf_counter() - start) * 1000)
        times.sort()
        p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
        return {"median_ms": round(statistics.median(times), 1), "p95_ms": round(p95, 1)}


def build(url: str, sites: int, members: int, per_site_day: float) -> dict[str, Any]:
    """The network, its members and a year of sessions; a few badges just presented."""
    ids = site_ids(sites)
    migrate(url)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        import_sites(session, sites_yaml(ids))
        import_members(session, members_csv(members))
    bulk = bulk_sessions(
        engine, session_rows(ids, members, date(2026, 1, 1), date(2026, 12, 31), per_site_day, 7)
    )
    now = datetime.now(UTC)
    with sessions.begin() as session:
        session.execute(
            insert(Event),
            [
                {
                    "id": f"unknown-{n}",
                    "site": ids[n % 2],
                    "device": f"{ids[n % 2]}-door",
                    "seq": n,
                    "type": "badge",
                    "ts": now - timedelta(seconds=20 * n),
                    "ts_offset_min": 60,
                    "clock_synced": True,
                    "badge": f"FEED{n:08X}",
                    "access": "denied",
                    "reason": "unknown",
                    "direction": "in",
                    "payload": "{}",
                }
                for n in range(20)
            ],
        )
        create_user(
            session,
            login="dora",
            display_name="Dora",
            role="department",
            sites=[],
            password=PASSWORD,
            actor="bench",
        )
        create_user(
            session,
            login="lea",
            display_name="Léa",
            role="animator",
            sites=ids[:2],
            password=PASSWORD,
            actor="bench",
        )
    engine.dispose()
    return {"sites": sites, "members": members, "sessions_2026": bulk.sessions}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Console page timings: JSON, no asserts.")
    parser.add_argument("--sites", type=int, default=12)
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--sessions-per-site-day", type=float, default=3.0)
    parser.add_argument("--requests", type=int, default=60)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'hub.db'}"
        data = build(url, args.sites, args.members, args.sessions_per_site_day)
        engine = make_engine(url)
        # The months summed up, as a running hub's minute timer has them (`bench.evaluation`
        # measures the pages before and after).
        refresh(make_sessionmaker(engine).begin)
        app = create_app(HubConfig(), sessionmaker=make_sessionmaker(engine))
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        base = f"http://127.0.0.1:{server.port}"
        try:
            department, animator = Browser(base, "dora"), Browser(base, "lea")
            year = "from=2026-01-01&to=2026-12-31"
            pages = {
                "baseline: GET /api/v1/health": (department, "/api/v1/health"),
                "baseline: a static file": (department, "/static/pages.css"),
                "members, first page": (department, "/members/"),
                "members, search by name": (department, "/members/?q=nom+12"),
                "members, a member's page": (animator, "/members/M000100"),
                "members, the live list of badges presented": (
                    animator,
                    "/members/unknown-badges",
                ),
                "evaluation, the network's year": (department, f"/reports/?{year}"),
                "evaluation, an animator's 2 sites": (animator, f"/reports/?{year}"),
                "sessions, December, newest first": (
                    department,
                    "/sessions/?from=2026-12-01&to=2026-12-31",
                ),
                "billing, December": (department, "/reports/billing?month=2026-12"),
            }
            figures = {name: who.timed(path, args.requests) for name, (who, path) in pages.items()}
        finally:
            server.shutdown()
            engine.dispose()
    print(
        json.dumps(
            {
                "data": data,
                "requests_per_page": args.requests,
                "pages": figures,
                "goal": f"pages p95 < {GOAL_MS:.0f} ms",
            },
            indent=2,
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
