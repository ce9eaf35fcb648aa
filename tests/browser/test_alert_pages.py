"""The alert pages as people meet them in Chromium, at 1280 and 390 px: "My account" (an
animator), the admins' e-mails page with a message waiting and one given up, the board with
its alarm banner: no serious accessibility violation (axe-core), no sideways scroll."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from playwright.sync_api import Browser, expect

from hub.config import HubConfig
from hub.mail import queue
from hub.service import Hub
from tests.browser.test_alarm_cue import alarm
from tests.browser.test_pages_in_chromium import serious_violations
from tests.console import add_user, axe_page
from tests.servers import Mosquitto

pytestmark = [pytest.mark.browser, pytest.mark.broker]


@pytest.mark.parametrize("width", [1280, 390])
def test_alert_pages_are_accessible_and_fit_the_screen(
    running_hub: Hub, broker: Mosquitto, browser: Browser, width: int
) -> None:
    add_user(running_hub.sessions, "lea", "animator", ["murat"], email="lea@murat.example")
    add_user(running_hub.sessions, "ada", "admin")
    with running_hub.sessions.begin() as session:
        queue.enqueue(session, "lea.martin@cybercantal.example", "Porte forcée – Murat", "…")
        refused = queue.enqueue(session, "personne@cybercantal.example", "Porte hors ligne", "…")
        queue.mark_refused(session, refused, "550 5.1.1 <personne@cybercantal.example>: User "
                           "unknown", datetime.now(UTC), HubConfig().mail, final=True)  # fmt: skip
    found: dict[str, object] = {}
    for login, paths in [("lea", ["/account/", "/"]), ("ada", ["/admin/mail"])]:
        with axe_page(browser, running_hub.url, login, width) as page:
            for path in paths:
                page.goto(running_hub.url + path)
                if path == "/":
                    page.locator("h1").click()
                    alarm(broker)
                    expect(page.locator("#alarm-banner")).to_be_visible()
                found[path] = serious_violations(page)
                wide = page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
                if wide:
                    found[path + " (sideways scroll)"] = True
    assert {path: bad for path, bad in found.items() if bad} == {}
