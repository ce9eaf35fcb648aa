"""Invoices benchmark: `.venv/bin/python -m bench.invoices [--members 2000] [--sample 30]`.

Prints figures as JSON, asserts nothing. A SQLite store with 12 sites, `--members` members and
a month of their stays (every member at one or two sites, 3 to 10 stays each), then:
- closing the month (`hub.reports.invoicing.close_month`: lines, adjustments, numbered
  invoices stored), next to the baseline of working the same month's lines out
  (`hub.reports.queries.billing`, what an open month costs);
- one invoice made as Factur-X PDF (WeasyPrint + the factur-x package's XSD check): median
  and p95 over `--sample` invoices, next to WeasyPrint's floor (a one-line page) measured in
  the same run, and the month's first zip extrapolated from them (every invoice made once);
- the month's zip once its PDFs are kept (`invoice_files.month_zip`, what every download after
  the first costs): median and p95 over `--repeat` downloads. `--full` makes the first zip
  for real (every invoice; minutes for 2,000 members) instead of the sample.

Aim on a 2-core machine like CI's: a month's invoices for 2,000 members < 30 s.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from weasyprint import HTML

from bench.hub import bulk_sessions, member_id, members_csv, site_ids, sites_yaml
from hub.people.imports import import_members, import_sites
from hub.reports import invoice_files, invoicing, queries
from hub.store import make_engine, make_sessionmaker, migrate
from hub.store.models import Invoice

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


def run(members: int, sample: int, repeat: int, full: bool) -> dict[str, Any]:
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

        with sessions() as session:
            open_month = timed(lambda: queries.billing(session, MONTH))
        with sessions.begin() as session:
            start = time.perf_counter()
            closed = invoicing.close_month(session, MONTH, now=CLOSED_ON, actor="bench")
            close_s = time.perf_counter() - start
        with sessions() as session:
            invoices = invoicing.invoices(session, MONTH)

        floor = [timed(lambda: HTML(string="<p>1 234,50 €</p>").write_pdf()) for _ in range(5)]
        chosen = invoices if full else random.Random(3).sample(invoices, min(sample, len(invoices)))
        made = []
        for invoice in chosen:
            start = time.perf_counter()
            invoice_files.facturx_pdf(invoice)
            made.append(time.perf_counter() - start)
        first_zip: dict[str, Any]
        if full:
            with sessions.begin() as session:
                first_zip = {
                    "s": round(timed(lambda: invoice_files.month_zip(session, invoices)), 1)
                }
        else:
            first_zip = {
                "estimated_s": round(statistics.mean(made) * len(invoices), 1),
                "from": f"{len(made)} invoices made",
            }
            # Keep a document for every invoice (the sample's own, copied) to time the zips
            # that follow the first.
            document = invoice_files.facturx_pdf(chosen[0])
            with sessions.begin() as session:
                session.execute(update(Invoice).values(document=document))
        zips = []
        size = 0
        for _ in range(repeat):
            with sessions() as session:
                start = time.perf_counter()
                archive = invoice_files.month_zip(session, invoicing.invoices(session, MONTH))
                zips.append(time.perf_counter() - start)
                size = len(archive)
        with sessions() as session:
            kept = session.scalar(select(Invoice.document).limit(1)) or b""
        engine.dispose()
    return {
        "members": members,
        "sites": len(sites),
        "stays": stays,
        "lines": closed.lines,
        "invoices": closed.invoices,
        "close_month_s": round(close_s, 2),
        "baseline_open_month_billing_s": round(open_month, 2),
        "invoice_pdf_facturx": percentiles(made),
        "baseline_weasyprint_one_line_page": percentiles(floor),
        "first_zip_every_invoice_made": first_zip,
        "zip_of_kept_pdfs": percentiles(zips),
        "zip_mb": round(size / 1e6, 1),
        "pdf_kb": round(len(kept) / 1e3, 1),
        "aim_s": 30,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--sample", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--full", action="store_true", help="make every invoice's PDF")
    args = parser.parse_args()
    print(json.dumps(run(args.members, args.sample, args.repeat, args.full), indent=2))


if __name__ == "__main__":
    main()
