"""The billing page in Chromium with a closed month: no serious accessibility violation
(axe-core) and nothing wider than a phone at 390 px; the close asks for its confirmation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from playwright.sync_api import Browser, expect

from hub.reports import invoicing
from hub.service import Hub
from tests.browser.test_pages_in_chromium import serious_violations
from tests.console import add_user, browser_sign_in
from tests.integration.test_invoicing import stay

pytestmark = [pytest.mark.browser, pytest.mark.broker]


@pytest.mark.parametrize("width", [1280, 390])
def test_a_closed_month_reads_well_at_any_width(
    running_hub: Hub, browser: Browser, width: int
) -> None:
    add_user(running_hub.sessions, "dora", "department", display_name="Dora Vidal")
    with running_hub.sessions.begin() as session:
        for member, day in (
            ("M0001", "2026-11-03"),
            ("M0003", "2026-11-04"),
            ("M0005", "2026-11-05"),
        ):
            session.add(stay(member, "murat", day.replace("-11-", "-10-"), "09:00", 5))
            session.add(stay(member, "murat", day, "09:00", 2))
    with running_hub.sessions.begin() as session:
        invoicing.close_month(
            session, "2026-10", now=datetime(2026, 11, 2, 9, tzinfo=UTC), actor="test"
        )
    context = browser.new_context(
        locale="fr-FR", viewport={"width": width, "height": 900}, bypass_csp=True
    )
    page = context.new_page()
    browser_sign_in(page, running_hub.url, "dora")
    page.goto(f"{running_hub.url}/reports/billing?month=2026-10")
    expect(page.get_by_text("Total du mois")).to_be_visible()
    expect(page.get_by_role("table", name="Total par site")).to_be_visible()
    expect(page.get_by_role("link", name="MURAT-000001")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert serious_violations(page) == []

    # November has ended (the hub's clock is the machine's, past 2026): its close is offered.
    page.goto(f"{running_hub.url}/reports/billing?month=2026-11")
    close = page.get_by_role("button", name="Clore novembre 2026 et émettre ses factures")
    close.click()  # the box is not ticked: the browser asks for it, nothing is sent
    expect(page.get_by_text("ouvert", exact=True)).to_be_visible()
    assert serious_violations(page) == []
    context.close()
