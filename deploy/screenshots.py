"""Screenshots of the evaluation and billing pages into docs/screenshots/:
`.venv/bin/python -m deploy.screenshots` (a minute or two).

The network of `bench.evaluation` (12 sites, 2,000 members, 2025 and 2026 of stays) served
by the hub's app, shown in Debian's Chromium at a desktop's (1280 px) and a phone's (390 px)
width as a department officer and an animator see them, and the first page of the
evaluation's PDF (pdftoppm).
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from bench.evaluation import build_network, served
from bench.pages import PASSWORD

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu"]
PAGES = {
    "evaluation": "/reports/?year=2026",
    # Named apart from the billing page's own screenshots (an open month of the 12 sites).
    "billing-12-sites": "/reports/billing?month=2026-11",
    "evaluation-print": "/reports/evaluation/print?year=2026",
}
#: An animator's view of its sites (their names in the title), a year after one without
#: stays (the comparison says there is nothing to compare with).
ANIMATOR_PAGES = {"evaluation-animator": "/reports/?year=2025"}
WIDTHS = {"": 1280, "-phone": 390}
#: A page's top, what a person sees first (a year's tables run to 10,000 px); the charts
#: are shot one by one, each with its table.
TOP_PX = 2400
CHARTS = ("hours-by-month", "weekday-hour", "average-day")


def _sign_in(page: Page, base: str, login: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Identifiant").fill(login)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(f"{base}/")


def _tops(
    page: Page, base: str, pages: dict[str, str], folder: Path, suffix: str, width: int
) -> list[Path]:
    """Each page's top, as tall as TOP_PX at most."""
    made = []
    for name, path in pages.items():
        page.goto(base + path)
        target = folder / f"{name}{suffix}.png"
        height = min(TOP_PX, page.evaluate("document.documentElement.scrollHeight"))
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(target))
        page.set_viewport_size({"width": width, "height": 900})
        made.append(target)
    return made


def shoot(base: str, folder: Path) -> list[Path]:
    made = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for suffix, width in WIDTHS.items():
            context = browser.new_context(locale="fr-FR", viewport={"width": width, "height": 900})
            page = context.new_page()
            _sign_in(page, base, "lea")
            made += _tops(page, base, ANIMATOR_PAGES, folder, suffix, width)
            context.clear_cookies()
            _sign_in(page, base, "dora")
            made += _tops(page, base, PAGES, folder, suffix, width)
            page.goto(base + PAGES["evaluation"])
            for chart in CHARTS:
                target = folder / f"evaluation-{chart}{suffix}.png"
                page.locator(f"section[aria-labelledby='h-{chart}']").screenshot(path=str(target))
                made.append(target)
            if not suffix:
                answer = page.request.get(f"{base}/reports/evaluation.pdf?year=2026")
                pdf = folder / "evaluation.pdf"
                pdf.write_bytes(answer.body())
                stem = folder / "evaluation-pdf"
                subprocess.run(
                    ["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "2", str(pdf), str(stem)],
                    check=True,
                    timeout=120,
                )
                pdf.unlink()
                made += sorted(folder.glob("evaluation-pdf*.png"))
            context.close()
        browser.close()
    return made


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'hub.db'}"
        build_network(url)
        with served(url) as base:
            for path in shoot(base, args.out):
                print(path.relative_to(REPO) if path.is_relative_to(REPO) else path)


if __name__ == "__main__":
    main()
