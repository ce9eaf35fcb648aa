"""The evaluation's page and files: `.venv/bin/python -m bench.evaluation [--requests 30]`.

The network of `bench.pages` (12 sites, 2,000 members, a year of sessions in 2026) with a
year of 2025 before it (the page compares the two), on SQLite, the hub's app on a real
threaded HTTP server, a signed-in department user. Each of the evaluation page of 2026, its
Excel workbook, its French CSV and its PDF is asked `--requests` times one after the other,
and its time (request sent → body read) printed as median and p95 in ms, next to
`GET /api/v1/health` and a static file measured in the same run: first with every month read
from its sessions (the bulk-written sessions' months not summed up yet, as before
`report_months`), then after `hub.reports.months.refresh` stored them and their years (also
timed). Prints JSON, asserts nothing.

What we aim for on a 2-core machine like CI's: page p95 < 150 ms, Excel < 1 s.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from werkzeug.serving import make_server

from bench.hub import bulk_sessions, session_rows, site_ids
from bench.pages import Browser, build
from hub.config import HubConfig
from hub.reports.months import refresh
from hub.store import make_engine, make_sessionmaker
from hub.web.app import create_app

SITES, MEMBERS, PER_SITE_DAY = 12, 2000, 3.0
GOALS = {"page p95": "< 150 ms", "Excel p95": "< 1,000 ms"}


def build_network(url: str) -> dict[str, Any]:
    """`bench.pages.build`'s network and year 2026, and a year 2025 before it."""
    data = build(url, SITES, MEMBERS, PER_SITE_DAY)
    engine = make_engine(url)
    rows = session_rows(
        site_ids(SITES), MEMBERS, date(2025, 1, 1), date(2025, 12, 31), PER_SITE_DAY * 0.85, 11
    )
    data["sessions_2025"] = bulk_sessions(engine, rows).sessions
    engine.dispose()
    return data


@contextmanager
def served(url: str) -> Iterator[str]:
    """The hub's app on `url`'s store, on a free loopback port: its base URL."""
    engine = make_engine(url)
    app = create_app(HubConfig(), sessionmaker=make_sessionmaker(engine))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        engine.dispose()


def timed(who: Browser, path: str, requests: int) -> dict[str, float]:
    def fetch() -> int:
        with who.opener.open(who.base + path, timeout=60) as answer:
            assert answer.status == 200, (path, answer.status)
            return len(answer.read())

    size = fetch()  # warm: templates compiled, caches filled
    times = []
    for _ in range(requests):
        start = time.perf_counter()
        fetch()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return {"median_ms": round(statistics.median(times), 1), "p95_ms": round(p95, 1), "bytes": size}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Evaluation page and files: JSON, no asserts.")
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'hub.db'}"
        data = build_network(url)
        with served(url) as base:
            department = Browser(base, "dora")
            year = "year=2026"
            baselines = {
                "GET /api/v1/health": "/api/v1/health",
                "a static file": "/static/pages.css",
            }
            asked = {
                "evaluation page, the network's 2026": f"/reports/?{year}",
                "Excel workbook, the network's 2026": f"/reports/evaluation.xlsx?{year}",
                "French CSV, the figures of 2026": f"/reports/evaluation/figures.csv?{year}",
                "PDF, the network's 2026": f"/reports/evaluation.pdf?{year}",
            }

            def measured(paths: dict[str, str]) -> dict[str, dict[str, float]]:
                return {
                    name: timed(
                        department,
                        path,
                        max(3, args.requests // 5) if "PDF" in name else args.requests,
                    )
                    for name, path in paths.items()
                }

            figures = {"baselines": measured(baselines)}
            # Bulk-written sessions are marked, their months not summed up yet: every month
            # is read from its sessions, as before `report_months`.
            figures["from every session (before report_months)"] = measured(asked)
            engine = make_engine(url)
            start = time.perf_counter()
            cleared = refresh(make_sessionmaker(engine).begin)
            data["months_summed_up_s"] = round(time.perf_counter() - start, 2)
            data["site_days_cleared"] = cleared
            engine.dispose()
            figures["from the stored months and years"] = measured(asked)
    print(
        json.dumps(
            {"data": data, "requests": args.requests, "timings": figures, "goals": GOALS},
            indent=2,
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
