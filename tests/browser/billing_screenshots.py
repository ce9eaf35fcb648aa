"""The billing page and an invoice as people see them: `python -m tests.browser.billing_screenshots`
writes `docs/screenshots/billing.png` (a closed month, 1280 px), `billing-phone.png` (390 px),
`billing-open.png` (an open month, with the close and the month picker) and `invoice.png`
(page 1 of an invoice whose line says why its amount is not hours × rate, through
`pdftoppm`), from a store made here: three sites, the demo's members, November
closed and December open."""

from __future__ import annotations

import random
import subprocess
import tempfile
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

from hub.config import HubConfig
from hub.people.imports import import_members, import_sites
from hub.reports import invoice_files, invoicing
from hub.store import make_engine, make_sessionmaker, migrate
from hub.store.models import PresenceSession
from hub.web.app import create_app
from tests.console import CHROMIUM, CHROMIUM_ARGS, add_user, browser_sign_in
from tests.servers import REPO, free_port

OUT = REPO / "docs" / "screenshots"
SITES = """\
sites:
  - id: murat
    name: La Cocotte Numérique
    commune: Murat
    spaces: [{id: plateau, kind: open_space, positions: 6}]
    opening: {mon: ["08:30-18:00"], tue: ["08:30-18:00"], wed: ["08:30-18:00"],
              thu: ["08:30-18:00"], fri: ["08:30-18:00"]}
    tariffs:
      public: {hourly: 3.0, daily_cap: 15.0, monthly_cap: 150.0}
      pass: {hourly: 2.0, daily_cap: 10.0, monthly_cap: 100.0}
    invoicing:
      issuer: Commune de Murat
      address: "Place de l'Hôtel de Ville"
      postcode: "15300"
      town: Murat
      siret: "21150138200017"
      payment: "Paiement à réception, par chèque à l'ordre du Trésor public ou par virement."
  - id: ydes
    name: Maison des Services d'Ydes
    commune: Ydes
    spaces: [{id: bureau, kind: office, positions: 3}]
    opening: {tue: ["09:00-17:00"], thu: ["09:00-17:00"]}
    tariffs: {public: {hourly: 2.5, daily_cap: 12.0}}
    invoicing: {issuer: Association Ydes Numérique, address: "1 place de la Mairie",
                postcode: "15210", town: Ydes, siret: "78395320100010",
                vat_number: FR40783953201, vat_rate: 20, prefix: YDES}
"""


def seed(url: str) -> None:
    migrate(url)
    sessions = make_sessionmaker(make_engine(url))
    rng = random.Random(15)
    members = (REPO / "deploy" / "demo" / "members.csv").read_text(encoding="utf-8")
    ids = [line.split(",")[0] for line in members.splitlines()[1:] if line]
    with sessions.begin() as session:
        import_sites(session, SITES)
        import_members(session, members)
        for month in (11, 12):
            for member in ids:
                site = "ydes" if ids.index(member) % 4 == 0 else "murat"
                for day in rng.sample(
                    [d for d in range(1, 31) if date(2026, month, d).weekday() < 5], 4
                ):
                    start = datetime(2026, month, day, 8, tzinfo=UTC) + timedelta(
                        minutes=rng.randrange(240)
                    )
                    end = start + timedelta(minutes=rng.randrange(60, 420))
                    session.add(
                        PresenceSession(member_id=member, site_id=site, start=start, end=end)
                    )
    with sessions.begin() as session:
        invoicing.close_month(
            session, "2026-11", now=datetime(2026, 12, 2, 9, tzinfo=UTC), actor="user:dora"
        )
    add_user(sessions, "dora", "department", display_name="Dora (département)")
    with sessions.begin() as session:
        murat = invoicing.invoices(session, "2026-11", sites={"murat"})
        # One whose line says why its amount is not hours × rate (a cap, free hours).
        shown = next((one for one in murat if any(line.note for line in one.lines)), murat[0])
        pdf = invoice_files.issued_pdf(session, shown)
    (OUT.parent.parent / ".invoice.pdf").write_bytes(pdf)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="billing-shots-") as folder:
        url = f"sqlite:///{Path(folder) / 'hub.db'}"
        seed(url)
        pdf = OUT.parent.parent / ".invoice.pdf"
        subprocess.run(
            ["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile", str(pdf),
             str(OUT / "invoice")],
            check=True, timeout=60,
        )  # fmt: skip
        pdf.unlink()
        app = create_app(
            HubConfig(),
            sessionmaker=make_sessionmaker(make_engine(url)),
            clock=lambda: datetime(2026, 12, 7, 10, tzinfo=UTC),
        )
        server = make_server("127.0.0.1", free_port(), app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_port}"
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                for name, width, month in (
                    ("billing", 1280, "2026-11"),
                    ("billing-phone", 390, "2026-11"),
                    ("billing-open", 1280, "2026-12"),
                ):
                    context = browser.new_context(
                        locale="fr-FR", viewport={"width": width, "height": 900}
                    )
                    context.set_default_timeout(15_000)
                    page = context.new_page()
                    browser_sign_in(page, base, "dora")
                    page.goto(f"{base}/reports/billing?month={month}")
                    if name == "billing-open":  # the month picker, in French
                        page.locator("details.filters-fold").evaluate("fold => fold.open = true")
                    page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)
                    context.close()
                browser.close()
        finally:
            server.shutdown()


if __name__ == "__main__":
    main()
