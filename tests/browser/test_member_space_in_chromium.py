"""The member space in real Chromium against the running hub, its mail thread handing e-mails
to a real SMTP server (aiosmtpd) and a real Mosquitto: a member asks for a link, follows it
and reads this month's hours, the same as the API's; the link works once; an unknown address
gets the same page and no e-mail. "J'ai perdu mon badge": a real edge agent (mock pins)
refuses the badge as `revoked` within 10 s. Every member page is axe-clean at 390 px, and
screenshot at 390 and 1280 px (in the test's folder)."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

import pytest
from babel.numbers import format_decimal
from gpiozero.pins.mock import MockPin
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import select

from edge.agent import Agent
from hub.people.imports import import_members
from hub.service import Hub
from hub.store.models import Event, PresenceSession
from tests.browser import test_pages_in_chromium as pages
from tests.console import add_user, browser_sign_in
from tests.integration.test_member_signin_http import mailing_config
from tests.mail_server import MailServer
from tests.servers import REPO, Mosquitto
from tests.waiting import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.broker]

DEMO = REPO / "deploy" / "demo"
PARIS = ZoneInfo("Europe/Paris")
ELODIE, ELODIE_MAIL, ELODIE_BADGE = "M0001", "elodie.vigier@example.org", "04A2B3C4D5E6F7"
LEA = "lea@cantal.example.fr"
API_TOKEN = "department-token-for-the-member-tests"
SITE, DEVICE = "murat", "murat-door"
LINK_RE = re.compile(r"(https?://\S+/espace-membre/lien/\S+)")


@pytest.fixture
def hub(tmp_path: Path, broker: Mosquitto, mail_server: MailServer) -> Iterator[Hub]:
    """The hub on a real broker, sending its e-mails to the test's SMTP server; the demo's
    members; Élodie's stays this month at Murat and Mauriac; Léa running Murat."""
    config = mailing_config(tmp_path, broker, mail_server, api_tokens={API_TOKEN: "department"})
    service = Hub(config)
    service.start()
    today = datetime.now(PARIS).replace(hour=8, minute=0, second=0, microsecond=0)
    with service.sessions.begin() as session:
        import_members(session, (DEMO / "members.csv").read_text(encoding="utf-8"))
        for site, start, length in [
            ("murat", today, timedelta(hours=2, minutes=20)),
            ("mauriac", today + timedelta(hours=4), timedelta(hours=1, minutes=5)),
        ]:
            session.add(
                PresenceSession(
                    member_id=ELODIE, site_id=site, start=start.astimezone(UTC),
                    end=(start + length).astimezone(UTC), end_reason="tap",
                )
            )  # fmt: skip
    add_user(service.sessions, "lea", "animator", [SITE], email=LEA)
    service.publish_access_lists(None)
    wait_until(service.ingest.subscribed.is_set, timeout=15)
    yield service
    service.stop()


def api_month_hours(hub: Hub, member: str) -> Decimal:
    today = datetime.now(PARIS).date()
    query = f"from={today.replace(day=1)}&to={today}&member={member}"
    request = urllib.request.Request(
        f"{hub.url}/api/v1/sessions?{query}",
        headers={"Authorization": f"Bearer {API_TOKEN}"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        rows = json.load(answer)["sessions"]
    return sum((Decimal(str(row["hours"])) for row in rows if row["hours"] is not None), Decimal(0))


def ask_link(page: Page, hub: Hub, email: str) -> None:
    """From the console's sign-in page, as a member finds it."""
    page.goto(f"{hub.url}/login")
    page.get_by_role("link", name="Espace membre").click()
    page.get_by_label("Votre adresse de courriel").fill(email)
    page.get_by_role("button", name="M'envoyer un lien").click()
    expect(page.locator("h1")).to_have_text("Consultez vos courriels")


def new_link(page: Page, hub: Hub, mail_server: MailServer) -> str:
    """Ask for a link for Élodie; the one that e-mail brings."""
    before = len(mail_server.inbox(ELODIE_MAIL))
    ask_link(page, hub, ELODIE_MAIL)
    return mailed_link(mail_server, ELODIE_MAIL, before + 1)


def mailed_link(mail_server: MailServer, email: str, count: int = 1) -> str:
    wait_until(lambda: len(mail_server.inbox(email)) >= count, timeout=30)
    body = mail_server.inbox(email)[count - 1].get_content()
    found = LINK_RE.search(body)
    assert found is not None, body
    return found.group(1)


def sign_in(page: Page, hub: Hub, mail_server: MailServer) -> None:
    page.goto(new_link(page, hub, mail_server))
    page.get_by_role("button", name="Ouvrir mon espace membre").click()
    expect(page.locator("h1")).to_have_text("Bonjour Élodie")


def test_a_member_signs_in_by_e_mail_and_reads_the_apis_hours(
    hub: Hub, mail_server: MailServer, browser: Browser, page: Page
) -> None:
    stranger = browser.new_context(locale="fr-FR")
    try:
        unknown = stranger.new_page()
        ask_link(unknown, hub, "personne@example.org")
        unknown_text = unknown.locator("main").inner_text()
    finally:
        stranger.close()
    ask_link(page, hub, ELODIE_MAIL)
    assert page.locator("main").inner_text().replace(ELODIE_MAIL, "X") == unknown_text.replace(
        "personne@example.org", "X"
    )
    link = mailed_link(mail_server, ELODIE_MAIL)
    page.goto(link)
    page.get_by_role("button", name="Ouvrir mon espace membre").click()
    expect(page.locator("h1")).to_have_text("Bonjour Élodie")
    expected = api_month_hours(hub, ELODIE)
    assert expected > 0
    figure = format_decimal(expected, format="#,##0.0", locale="fr_FR") + "\u00a0h"
    expect(page.locator("#month-hours")).to_have_text(figure)
    assert mail_server.inbox("personne@example.org") == []  # sent in order: it would be here

    again = browser.new_context(locale="fr-FR")
    try:
        second = again.new_page()
        second.goto(link)
        second.get_by_role("button", name="Ouvrir mon espace membre").click()
        expect(second.locator("h1")).to_have_text("Ce lien ne fonctionne plus")
        second.goto(f"{hub.url}/espace-membre/moi")
        expect(second.locator("h1")).to_have_text("Votre espace membre")  # signed out
    finally:
        again.close()


# --- a lost badge at a real door ---------------------------------------------------------------


@pytest.fixture
def running_hub(hub: Hub) -> Hub:
    """This module's hub (e-mails to the test's SMTP server) for the fixtures it borrows."""
    return hub


#: Murat's edge agent on mock pins and the hub's broker, with a stdin reader to tap cards on.
door = pages.door


def decisions(hub: Hub) -> list[tuple[str | None, str | None]]:
    with hub.sessions() as session:
        rows = session.execute(
            select(Event.access, Event.reason)
            .where(Event.badge == ELODIE_BADGE, Event.site == SITE)
            .order_by(Event.ts, Event.id)
        ).all()
    return [(access, reason) for access, reason in rows]


def test_i_lost_my_badge_and_the_door_refuses_it_within_ten_seconds(
    hub: Hub,
    mail_server: MailServer,
    page: Page,
    door: tuple[Agent, IO[str], MockPin],
    tmp_path: Path,
) -> None:
    _, reader, _ = door

    def known() -> bool:  # the door has its list: granted, or refused only for the hour
        pages.present(reader, ELODIE_BADGE)
        return any(decision != ("denied", "unknown") for decision in decisions(hub))

    wait_until(known, timeout=20, interval=0.5)
    sign_in(page, hub, mail_server)
    page.get_by_role("link", name="J'ai perdu mon badge").click()
    page.get_by_role("button", name="Arrêter ce badge maintenant").click()
    stopped = time.monotonic()
    expect(page.locator(".flash")).to_contain_text("Votre badge est arrêté")

    def refused() -> bool:
        pages.present(reader, ELODIE_BADGE)
        return ("denied", "revoked") in decisions(hub)

    wait_until(refused, timeout=10, interval=0.5)
    assert time.monotonic() - stopped < 10
    expect(page.locator("#door-list")).to_contain_text("le refuse désormais", timeout=10_000)
    page.screenshot(path=str(tmp_path / "member-doors-1280.png"), full_page=True)
    wait_until(lambda: mail_server.inbox(LEA), timeout=30)
    assert mail_server.inbox(LEA)[0]["Subject"] == "Badge perdu : Élodie Vigier"


# --- every member page: accessible at 390 px, screenshot at 390 and 1280 -----------------------


def violations(page: Page) -> list[tuple[str, str, int]]:
    """Every axe-core violation, whatever its impact: (rule, impact, nodes)."""
    page.add_script_tag(path=str(pages.AXE))
    found: list[dict[str, Any]] = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [(v["id"], v["impact"], len(v["nodes"])) for v in found]


def looking(
    browser: Browser, width: int, prefix: Path, found: dict[str, list[tuple[str, str, int]]]
) -> tuple[BrowserContext, Page, Callable[[str], None]]:
    """A French tab `width` px wide, and `look(name)`: a screenshot `<prefix>-<name>-<width>.png`
    and, at 390 px, its axe violations into `found` and no sideways scrolling."""
    context = browser.new_context(
        locale="fr-FR", viewport={"width": width, "height": 900}, bypass_csp=True
    )
    page = context.new_page()

    def look(name: str) -> None:
        page.screenshot(path=f"{prefix}-{name}-{width}.png", full_page=True)
        if width == 390:
            found[name] = violations(page)
            assert page.evaluate("document.documentElement.scrollWidth") <= width, name

    return context, page, look


def test_every_member_page_is_axe_clean_on_a_phone(
    hub: Hub, mail_server: MailServer, browser: Browser, tmp_path: Path
) -> None:
    found: dict[str, list[tuple[str, str, int]]] = {}
    for width in (1280, 390):
        context, page, look = looking(browser, width, tmp_path / "member", found)
        try:
            page.goto(f"{hub.url}/espace-membre/")
            look("signin")
            link = new_link(page, hub, mail_server)
            look("link-sent")
            page.goto(link)
            look("link")
            page.get_by_role("button", name="Ouvrir mon espace membre").click()
            expect(page.locator("h1")).to_have_text("Bonjour Élodie")
            page.locator("details summary").first.click()
            look("home")
            page.goto(f"{hub.url}/espace-membre/mes-donnees")
            look("data")
            page.goto(f"{hub.url}/espace-membre/badges/{ELODIE_BADGE}/perdu")
            look("lost")
            if width == 1280:  # stopped once; the 390 px pass sees it stopped
                page.get_by_role("button", name="Arrêter ce badge maintenant").click()
            page.goto(f"{hub.url}/espace-membre/badges/{ELODIE_BADGE}")
            expect(page.locator("h1")).to_contain_text("Badge se terminant par E6F7")
            look("badge")
            page.goto(link)
            page.get_by_role("button", name="Ouvrir mon espace membre").click()
            look("link-spent")
        finally:
            context.close()
    assert {name: v for name, v in found.items() if v} == {}


def test_the_staffs_code_pages_are_axe_clean_on_a_phone(
    hub: Hub, browser: Browser, tmp_path: Path
) -> None:
    """Léa (Murat) makes Élodie's code (she stays at Murat); Marc (Aurillac) sees no button
    on her page but why, and the refusal if he posts the form anyway."""
    add_user(hub.sessions, "marc", "animator", ["aurillac-a2ex"])
    found: dict[str, list[tuple[str, str, int]]] = {}
    for width in (1280, 390):
        for login in ("lea", "marc"):
            context, page, look = looking(browser, width, tmp_path / "code", found)
            try:
                browser_sign_in(page, hub.url, login)
                page.goto(f"{hub.url}/members/{ELODIE}")
                panel = page.locator("#member-space-title").locator("..")
                panel.scroll_into_view_if_needed()
                if login == "lea":
                    look("panel")
                    panel.get_by_role("button", name="Créer un code à usage unique").click()
                    expect(page.locator("h1")).to_have_text(
                        "Code à usage unique pour Élodie Vigier"
                    )
                    look("made")
                else:
                    expect(panel.get_by_role("button")).to_have_count(0)
                    look("panel-refused")
                    page.evaluate(  # the form a page without the button would have posted
                        """(path) => { const f = document.createElement('form');
                        f.method = 'post'; f.action = path;
                        f.append(document.querySelector('input[name=csrf_token]').cloneNode());
                        document.body.append(f); f.submit(); }""",
                        f"/members/{ELODIE}/one-time-code",
                    )
                    expect(page.locator("h1")).to_have_text(
                        "Pas de code pour ce membre depuis votre compte"
                    )
                    look("refused")
            finally:
                context.close()
    assert {name: v for name, v in found.items() if v} == {}
