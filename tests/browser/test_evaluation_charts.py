"""The evaluation page of a 12-site network's year in real Chromium: every chart is drawn
(its canvas has ink) with its table under it, the heat map is coloured by the style sheet,
nothing is refused by the pages' Content-Security-Policy, axe-core finds no serious or
critical violation, and an animator sees its two sites only. Its printable page, printed by
Chromium itself, keeps every column of the figures on the page."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from bench.evaluation import build_network, served
from bench.pages import PASSWORD
from tests.browser.test_look import serious_violations
from tests.console import browser_sign_in

pytestmark = [pytest.mark.browser]

YEAR = "/reports/?year=2026"
CHARTS = ["hours-by-month", "average-day", "categories", "pass-members"]
#: Pixels with some ink on each chart's canvas (asked of the page, which draws them).
INKED = """() => [...document.querySelectorAll('figure.chart')].map(figure => {
  const canvas = figure.querySelector('canvas');
  const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let inked = 0;
  for (let i = 3; i < pixels.length; i += 4) { if (pixels[i] > 0) { inked++; } }
  return [figure.dataset.table, inked, canvas.width];
})"""


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = f"sqlite:///{tmp_path_factory.mktemp('network') / 'hub.db'}"
    build_network(url)
    with served(url) as base:
        yield base


def sign_in(page: Page, base: str, login: str) -> None:
    browser_sign_in(page, base, login, PASSWORD)


def test_every_chart_is_drawn_over_its_table(network: str, page: Page) -> None:
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text else None)
    sign_in(page, network, "dora")
    page.goto(network + YEAR)
    assert page.locator("h2.evaluation-title").inner_text().startswith("Évaluation 2026 du réseau")
    drawn = page.evaluate(INKED)
    assert [table for table, _, _ in drawn] == [f"table-{key}" for key in CHARTS]
    assert all(inked > 500 and width > 100 for _, inked, width in drawn), drawn
    for key in [*CHARTS, "weekday-hour", "figures", "comparison", "subsidy"]:
        rows = page.locator(f"#table-{key} tbody tr")
        assert rows.count() > 0, key
    # 12 sites in the stacked chart's table, each a column; 12 months of 2026 so far.
    assert page.locator("#table-hours-by-month thead th").count() == 1 + 12 + 1
    assert page.locator("#table-hours-by-month tbody tr").count() == 12
    # The heat map's colours come from the style sheet's classes, not from inline styles.
    hot = page.locator("#table-weekday-hour td.heat-9")
    assert hot.count() >= 1
    colour = hot.first.evaluate("cell => getComputedStyle(cell).backgroundColor")
    assert colour == "rgb(13, 86, 131)"
    assert "estimation" in page.locator("#h-subsidy").inner_text().lower()
    assert refused == []


@pytest.mark.parametrize("width", [1280, 390])
def test_axe_finds_no_serious_violation_on_the_evaluation(
    network: str, browser: Browser, width: int, tmp_path: Path
) -> None:
    # axe-core is injected as an inline script, which the pages' policy rightly forbids.
    context = browser.new_context(
        locale="fr-FR", viewport={"width": width, "height": 900}, bypass_csp=True
    )
    page = context.new_page()
    try:
        sign_in(page, network, "dora")
        page.goto(network + YEAR)
        assert serious_violations(page) == []
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.goto(f"{network}/reports/evaluation/print?year=2026")
        assert serious_violations(page) == []
    finally:
        context.close()


def test_an_animator_sees_its_sites_only(network: str, page: Page) -> None:
    sign_in(page, network, "lea")
    page.goto(network + YEAR)
    title = page.locator("h2.evaluation-title").inner_text()
    assert title.startswith("Évaluation 2026 — Télécentre 1 et Télécentre 2")
    header = page.locator("#table-hours-by-month thead th").all_inner_texts()
    assert header == ["Mois", "Télécentre 1", "Télécentre 2", "Total"]
    text = page.locator("main").inner_text()
    assert "Télécentre 3" not in text and "Réseau" not in text
    assert all(inked > 500 for _, inked, _ in page.evaluate(INKED))
    answer = page.request.get(f"{network}/reports/evaluation.xlsx?year=2026&site=site-0003")
    assert answer.status == 404


def test_the_printable_page_prints_every_column(network: str, page: Page, tmp_path: Path) -> None:
    """The browser's own print of "Page à imprimer" (the officer's printout stopped at
    "Tau…"): every column of the figures fits the landscape page, the last one included."""
    sign_in(page, network, "dora")
    page.goto(f"{network}/reports/evaluation/print?year=2025")
    path = tmp_path / "printed.pdf"
    page.pdf(path=str(path), format="A4")
    done = subprocess.run(
        ["pdftotext", "-f", "1", "-l", "1", str(path), "-"],
        capture_output=True,
        check=True,
        timeout=60,
    )
    first_page = " ".join(done.stdout.decode().split())
    for header in ("Taux d'occupation", "Membres du Pass", "Coût annuel moyen d'un poste"):
        assert header in first_page, header
    # The network's row, to its last cell: its cost per position (€).
    network_row = page.locator("#table-figures tbody tr").last.locator("td").all_inner_texts()
    cost = " ".join(network_row[-1].split())
    assert cost.endswith("€") and cost in first_page
    page.emulate_media(media="print")
    wrap, table = page.evaluate(
        """() => { const t = document.querySelector('#table-figures');
        return [t.parentElement.clientWidth, t.scrollWidth]; }"""
    )
    assert table <= wrap


def test_on_a_phone_the_table_says_it_scrolls_and_keeps_its_names(
    network: str, browser: Browser
) -> None:
    """At 390 px the officer saw only the site names, with no sign of the columns to their
    right: a hint says the table scrolls, and the names stay in view when it does."""
    context = browser.new_context(locale="fr-FR", viewport={"width": 390, "height": 900})
    page = context.new_page()
    try:
        sign_in(page, network, "dora")
        page.goto(network + YEAR)
        section = page.locator("section[aria-labelledby='h-figures']")
        hint = section.locator(".scroll-hint")
        assert hint.is_visible()
        assert hint.inner_text() == "Faites défiler le tableau vers la droite →"
        wrap = section.locator(".table-wrap")
        assert wrap.evaluate("wrap => wrap.scrollWidth > wrap.clientWidth")
        name = section.locator("tbody tr").first.locator("th")
        before = name.bounding_box()
        wrap.evaluate("wrap => { wrap.scrollLeft = 400; }")
        after = name.bounding_box()
        assert wrap.evaluate("wrap => wrap.scrollLeft") > 0
        assert before is not None and after is not None and after["x"] == before["x"]
        assert name.inner_text() == "Télécentre 1" and name.is_visible()
    finally:
        context.close()
    wide = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
    page = wide.new_page()
    try:
        sign_in(page, network, "dora")
        page.goto(network + YEAR)
        # A hint only above a table wider than its frame: the 17 columns of the figures
        # still are at 1280 px, the subsidy's 7 are not.
        shown = page.evaluate(
            """() => [...document.querySelectorAll('.scroll-hint')].map(hint => [
            hint.nextElementSibling.querySelector('table').id, !hint.hidden,
            hint.nextElementSibling.scrollWidth > hint.nextElementSibling.clientWidth])"""
        )
        assert all(visible == overflows for _id, visible, overflows in shown), shown
        assert {"table-figures": True, "table-subsidy": False}.items() <= {
            key: visible for key, visible, _overflows in shown
        }.items()
    finally:
        wide.close()
