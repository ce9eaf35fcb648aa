"""Chromium through the shipped nginx (HTTPS, the hub told it is behind a proxy): the
console's forms pass their CSRF check over HTTPS (the browser's Referer against the Host
nginx passes on), and a member's e-mailed link leads to the hub's public address and signs
her in."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.console import add_user, browser_sign_in
from tests.front import Served, add_demo_people, behind_nginx, mailed_bodies

ELODIE = "elodie.vigier@example.org"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with behind_nginx(tmp_path) as served:
        add_demo_people(served.sessions)
        add_user(served.sessions, "ada", "admin")
        yield served


@pytest.fixture
def tab(browser: Browser) -> Iterator[Page]:
    """A French tab that accepts the test CA's certificate."""
    context = browser.new_context(
        locale="fr-FR", viewport={"width": 1280, "height": 900}, ignore_https_errors=True
    )
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def test_staff_sign_in_through_nginx(served: Served, tab: Page) -> None:
    browser_sign_in(tab, served.nginx.url, "ada")  # lands on the board
    expect(tab.locator("h1")).to_have_text("Tableau de bord en direct")


def test_a_member_signs_in_by_the_link_through_nginx(served: Served, tab: Page) -> None:
    tab.goto(f"{served.nginx.url}/espace-membre/")
    tab.get_by_label("Votre adresse de courriel").fill(ELODIE)
    tab.get_by_role("button", name="M'envoyer un lien").click()
    expect(tab.locator("h1")).to_have_text("Consultez vos courriels")
    [body] = mailed_bodies(served.sessions, ELODIE, 1)
    link = re.search(r"\S+/espace-membre/lien/\S+", body)
    assert link is not None and link.group(0).startswith(f"{served.nginx.url}/espace-membre/")
    tab.goto(link.group(0))
    tab.get_by_role("button", name="Ouvrir mon espace membre").click()
    expect(tab.locator("h1")).to_have_text("Bonjour Élodie")
