"""Invoices benchmark: `.venv/bin/python -m bench.invoices [--members 2000] [--sample 50]`.

Prints figures as JSON, asserts nothing, ends by itself (every request bounded, the worker
processes stopped with the zip). Two stores on SQLite:

1. 12 sites, `--members` members and a month of their stays (every member at one or two
   sites, 3 to 10 stays each), the month closed (`invoicing.close_month`), then:
   - the month's **first zip**, every invoice made (`invoice_files.month_zip`: each invoice
     drawn by reportlab and made Factur-X, batches of `invoice_files.BATCH` in a worker
     process per core), next to the **baseline** of making them one by one in this process
     (`facturx_pdf`), timed on a sample of `--sample` invoices and extrapolated to the month
     (labelled so);
   - the **cached zip** (every PDF kept: what every download after the first costs, and the
     first one once the hub has made them in the background after the close): median and p95
     over `--repeat` downloads.
2. `bench.pages`' network (12 sites, `--members` members, a year of sessions) with November
   closed, on the hub's app served by a real threaded HTTP server: the **billing page** of
   the closed November and of the open December, `--requests` times each (median, p95), next
   to the same server's `GET /api/v1/health` in the same run (the floor of any page).

Aim on a 2-core machine like CI's: a month's invoices for 2,000 members < 30 s; billing page
p95 < 150 ms.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import resource
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from werkzeug.serving import make_server

from bench import pages
from bench.hub import bulk_sessions, member_id, members_csv, site_ids, sites_yaml
from hub.config import HubConfig
from hub.people.imports import import_members, import_sites
from hub.reports import invoice_files, invoicing
from hub.store import make_engine, make_sessionmaker, migrate
from hub.web.app import create_app

MONTH = "2026-11"
CLOSED_ON = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def percentiles(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "median_s": round(statistics.median(ordered), 4),
        "p95_s": round(p95, 4),
        "n": len(ordered),
    }


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def cpu_s() -> float:
    """CPU seconds of this process and of its ended children (the zip's worker processes):
    on a machine shared with other work, what the wall clock cannot say alone."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def month_stays(
    sites: list[str], members: int, seed: int
) -> Iterator[tuple[str, str, datetime, datetime, bool]]:
    """Every member at one or two sites, 3 to 10 stays of 30 min to 8 h on November's
    weekdays."""
    rng = random.Random(seed)
    days = [date(2026, 11, d) for d in range(1, 31) if date(2026, 11, d).weekday() < 5]
    for member in range(members):
        own = rng.sample(sites, 1 + (member % 3 == 0))
        for day in rng.sample(days, rng.randint(3, 10)):
            start = datetime(day.year, day.month, day.day, 8, tzinfo=UTC) + timedelta(
                seconds=rng.randrange(4 * 3600)
            )
            end = start + timedelta(seconds=rng.randrange(1800, 8 * 3600))
            yield (member_id(member), rng.choice(own), start, end, False)


def invoices_month(members: int, sample: int, repeat: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-invoices-") as folder:
        url = f"sqlite:///{Path(folder) / 'hub.db'}"
        migrate(url)
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        sites = site_ids(12)
        with sessions.begin() as session:
            import_sites(session, sites_yaml(sites))
            import_members(session, members_csv(members))
        stays = bulk_sessions(engine, month_stays(sites, members, seed=7)).sessions
        with sessions.begin() as session:
            start = time.perf_counter()
            closed = invoicing.close_month(session, MONTH, now=CLOSED_ON, actor="bench")
            close_s = time.perf_counter() - start
        with sessions() as session:
            invoices = invoicing.invoices(session, MONTH)

        chosen = random.Random(3).sample(invoices, min(sample, len(invoices)))
        cpu = cpu_s()
        one_by_one = [timed(partial(invoice_files.facturx_pdf, invoice)) for invoice in chosen]
        one_by_one_cpu = (cpu_s() - cpu) / len(chosen)
        cpu = cpu_s()
        with sessions.begin() as session:
            first_zip_s = timed(lambda: invoice_files.month_zip(session, invoices))
        first_zip_cpu = cpu_s() - cpu
        zips = []
        size = 0
        for _ in range(repeat):
            with sessions() as session:
                start = time.perf_counter()
                archive = invoice_files.month_zip(session, invoicing.invoices(session, MONTH))
                zips.append(time.perf_counter() - start)
                size = len(archive)
        engine.dispose()
    per_invoice = statistics.mean(one_by_one)
    return {
        "members": members,
        "sites": len(sites),
        "stays": stays,
        "lines": closed.lines,
        "invoices": closed.invoices,
        "close_month_s": round(close_s, 2),
        "first_zip_every_invoice_made_s": round(first_zip_s, 1),
        "first_zip_cpu_s": round(first_zip_cpu, 1),
        "load_average_1min": round(os.getloadavg()[0], 1),
        "worker_processes": invoice_files.cores(),
        "invoices_per_worker_batch": invoice_files.BATCH,
        "baseline_first_zip_one_by_one_s": {
            "estimated_s": round(per_invoice * len(invoices), 1),
            "from": f"{len(one_by_one)} invoices made one by one in this process, "
            "extrapolated to the month",
            "estimated_cpu_s": round(one_by_one_cpu * len(invoices), 1),
            "invoice_s": percentiles(one_by_one),
        },
        "cached_zip": percentiles(zips),
        "zip_mb": round(size / 1e6, 1),
        "aim_s": 30,
    }


def billing_pages(members: int, requests: int) -> dict[str, Any]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="bench-billing-") as folder:
        url = f"sqlite:///{Path(folder) / 'hub.db'}"
        data = pages.build(url, 12, members, 3.0)
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        with sessions.begin() as session:
            closed = invoicing.close_month(session, MONTH, now=CLOSED_ON, actor="bench")
        app = create_app(HubConfig(), sessionmaker=sessions)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            department = pages.Browser(f"http://127.0.0.1:{server.port}", "dora")
            figures = {
                "baseline: GET /api/v1/health": department.timed("/api/v1/health", requests),
                "billing, November closed": department.timed(
                    f"/reports/billing?month={MONTH}", requests
                ),
                "billing, December open": department.timed(
                    "/reports/billing?month=2026-12", requests
                ),
            }
            with sessions() as session:
                # What the open month's page adds for the close: its warnings, worked out
                # over the lines the page has read already (their reading as baseline).
                december = invoicing.month_billing(session, "2026-12")
                figures["in process: December's lines read (baseline)"] = percentiles(
                    [timed(lambda: invoicing.month_billing(session, "2026-12")) for _ in range(9)]
                )
                figures["in process: the close's warnings over them"] = percentiles(
                    [timed(lambda: invoicing.close_warnings(session, december)) for _ in range(9)]
                )
        finally:
            server.shutdown()
            thread.join(timeout=10)
            engine.dispose()
    return {
        **data,
        "november_lines": closed.lines,
        "requests_per_page": requests,
        "pages": figures,
        "aim": f"p95 < {pages.GOAL_MS:.0f} ms",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--sample", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--requests", type=int, default=40)
    args = parser.parse_args()
    figures = {
        "invoices": invoices_month(args.members, args.sample, args.repeat),
        "billing_page": billing_pages(args.members, args.requests),
    }
    print(json.dumps(figures, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
