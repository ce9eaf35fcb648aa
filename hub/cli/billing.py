"""`telecentre-hub billing …`: a month's billing from a shell, through the same functions as
the console's billing page (`hub.reports.invoicing`, `hub.reports.invoice_files`).

    telecentre-hub --config hub.yaml billing close 2026-11     # store lines, issue invoices
    telecentre-hub --config hub.yaml billing show 2026-11      # the API's JSON
    telecentre-hub --config hub.yaml billing invoices 2026-11 --zip factures-2026-11.zip
"""

from __future__ import annotations

import argparse
import getpass
import json
import re
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from hub.config import HubConfig
from hub.store.models import utcnow
from telecentre.private_files import write_private

Database = Callable[[], AbstractContextManager[Session]]


def _month(text: str) -> str:
    if not re.fullmatch(r"(20[0-9]{2}|2100)-(0[1-9]|1[0-2])", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a month (YYYY-MM, 2000-2100)")
    return text


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    billing = commands.add_parser("billing", help="a month's billing: close, show, invoices")
    verbs = billing.add_subparsers(dest="verb", required=True)
    verbs.add_parser(
        "close", help="close a month: store its lines, issue its invoices"
    ).add_argument("month", type=_month)
    verbs.add_parser("show", help="a month's lines and totals as JSON").add_argument(
        "month", type=_month
    )
    invoices = verbs.add_parser("invoices", help="a closed month's invoices as a zip")
    invoices.add_argument("month", type=_month)
    invoices.add_argument("--zip", dest="zip_file", type=Path, required=True)


def run(
    args: argparse.Namespace,
    config: HubConfig,
    database: Database,
    *,
    clock: Callable[[], datetime] = utcnow,
) -> int:
    """`clock`: "now", which decides whether the month has ended."""
    from hub.api.reports import billing_json
    from hub.reports import invoice_files, invoicing

    if args.verb == "close":
        try:
            with database() as session:
                closed = invoicing.close_month(
                    session,
                    args.month,
                    now=clock(),
                    actor=f"cli:{getpass.getuser()}",
                    sessions_retention_years=config.retention.sessions_retention_years,
                )
        except invoicing.CannotClose as refused:
            print(f"telecentre-hub: {refused}", file=sys.stderr)
            for row in refused.blocking:
                print(f"  session {row.id}: {row.member_id} at {row.site} since {row.start}")
            for gap in refused.gaps:
                keys = ", ".join(f"invoicing.{key}" for key in gap.missing)
                print(f"  site {gap.site}: missing {keys} (sites file or the console's sites page)")
            return 1
        print(
            f"{closed.month} closed: {closed.lines} lines, {closed.adjustments} adjustments, "
            f"{closed.invoices} invoices, {closed.total_eur} EUR"
        )
        return 0
    with database() as session:
        if args.verb == "show":
            result = invoicing.month_billing(session, args.month)
            print(json.dumps(billing_json(result), indent=2, ensure_ascii=False))
            return 0
        found = invoicing.invoices(session, args.month)
        if not found:
            print(f"telecentre-hub: {args.month} has no invoices (is it closed?)", file=sys.stderr)
            return 1
        archive = invoice_files.month_zip(session, found)
    write_private(args.zip_file, archive)  # names and postal addresses
    print(f"{len(found)} invoices written to {args.zip_file}")
    return 0
