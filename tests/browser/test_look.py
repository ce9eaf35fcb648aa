"""The console as people meet it, in Chromium: no serious accessibility violation (axe-core)
on the sign-in page and the board, usable at a phone's width, and keyboard-first."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from hub.service import Hub
from telecentre import wire
from tests.console import add_user, browser_sign_in
from tests.servers import Mosquitto
from tests.waiting import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.broker]

AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
SITE, DEVICE = "murat", "murat-door"


def publish(broker: Mosquitto, event: dict[str, Any], seq: int) -> None:
    subprocess.run(
        ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-q", "1",
         "-t", wire.events_topic(SITE, DEVICE), "-m", json.dumps({**event, "seq": seq})],
        check=True, timeout=10,
    )  # fmt: skip


@pytest.fixture
def busy_board(running_hub: Hub, broker: Mosquitto) -> Hub:
    """Murat with a member in, a refused badge and a standing alarm."""
    add_user(running_hub.sessions, "lea", "animator", [SITE, "mauriac"], display_name="Léa")
    common: dict[str, Any] = {"site": SITE, "device": DEVICE, "clock_synced": True}
    taps: dict[str, Any] = {"reader": "entrance", "direction": "in"}
    publish(broker, wire.badge_event(**common, **taps, badge="04A2B3C4D5E6F7", access="granted"), 1)
    denied = wire.badge_event(**common, **taps, badge="0BADC0DE", access="denied", reason="unknown")
    publish(broker, denied, 2)
    publish(broker, wire.alarm_event(**common, kind="door_held_open", door="main"), 3)
    return running_hub


def serious_violations(page: Page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document)")
    return [
        f"{v['id']}: {v['help']} ({len(v['nodes'])}: {v['nodes'][0]['target']})"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_sign_in_and_board_have_no_serious_accessibility_violation(
    busy_board: Hub, browser: Browser
) -> None:
    # axe-core is injected as an inline script, which the pages' policy rightly forbids.
    context = browser.new_context(locale="fr-FR", bypass_csp=True)
    page = context.new_page()
    page.goto(f"{busy_board.url}/login")
    assert serious_violations(page) == []
    browser_sign_in(page, busy_board.url, "lea")
    expect(page.locator("#site-murat .alarm")).to_have_count(1)
    assert serious_violations(page) == []
    context.close()


def test_the_board_runs_within_its_content_security_policy(busy_board: Hub, page: Page) -> None:
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text else None)
    browser_sign_in(page, busy_board.url, "lea")
    expect(page.locator("#site-murat .present")).to_have_text("1")
    # 1 of 9 positions: the bar's width comes from the style sheet (the card may be
    # replaced by the stream meanwhile: ask the page, not a detached element).
    wait_until(
        lambda: (
            page.evaluate(
                "document.querySelector('#site-murat .fill-bar').getBoundingClientRect().width"
            )
            > 0
        )
    )
    page.goto(f"{busy_board.url}/board/murat/door")
    assert refused == []


def test_the_board_fits_a_phone_and_works_with_the_keyboard(
    busy_board: Hub, browser: Browser, tmp_path: Path
) -> None:
    context = browser.new_context(locale="fr-FR", viewport={"width": 390, "height": 844})
    phone = context.new_page()
    try:
        browser_sign_in(phone, busy_board.url, "lea")
        expect(phone.locator("#site-murat .present")).to_have_text("1")
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390
        # A finger's size (asked of the page: the stream may replace the card meanwhile).
        wait_until(
            lambda: (
                phone.evaluate(
                    "document.querySelector('#site-murat .alarm button').getBoundingClientRect()"
                    ".height"
                )
                >= 44
            )
        )
        phone.screenshot(path=str(tmp_path / "board-phone.png"), full_page=True)
        # Keyboard only: the skip link comes first and leads to the content.
        phone.keyboard.press("Tab")
        expect(phone.locator(".skip-link")).to_be_focused()
        phone.keyboard.press("Enter")
        assert phone.evaluate("location.hash") == "#main"
    finally:
        context.close()
