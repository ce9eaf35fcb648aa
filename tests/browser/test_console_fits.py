"""Every page of the console, for every role, in real Chromium at 1280 and 390 px, against
the running hub on a real Mosquitto with taps, an alarm and door events: nothing wider than
the screen, the header on one line at 1280 px, no internal id or English word a person would
read, no serious accessibility violation. Then the two shortcuts: a check-out from the
board in two clicks, and a new member made for a badge just presented at a real edge agent,
whose door then lets that badge in.

`CONSOLE_SHOTS=/some/dir` keeps a full-page screenshot of every page walked."""

from __future__ import annotations

import json
import os
import re
import subprocess
from datetime import date, timedelta
from itertools import pairwise
from pathlib import Path
from typing import IO, Any

import pytest
from gpiozero.pins.mock import MockPin
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from edge.agent import Agent
from hub.service import Hub
from hub.store.models import PresenceSession
from telecentre import wire
from tests.browser.test_pages_in_chromium import door, door_version, present, taps
from tests.console import add_user, browser_sign_in, english_left
from tests.servers import Mosquitto
from tests.waiting import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.broker]

__all__ = ["door"]  # the edge agent's fixture, used below

AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
SITE, DEVICE = "murat", "murat-door"
ELODIE = "04A2B3C4D5E6F7"  # M0001 Élodie Vigier in the demo's members
STRANGER = "0BADC0DE"
NEWCOMER = "CAFEF00D12"
ALL, STAFF, ADMIN = ("ada", "dora", "lea"), ("ada", "dora"), ("ada",)
#: Every page a person opens, and who may open it (`{session}`: Élodie's stay at Murat).
PAGES = {
    "/": ALL,
    f"/?site={SITE}": ALL,
    f"/board/{SITE}/door": ALL,
    "/members/": ALL,
    "/members/M0001": ALL,
    "/members/new": ALL,
    f"/members/new?badge={STRANGER}": ALL,
    f"/members/enrol/{STRANGER}": ALL,
    "/sessions/": ALL,
    "/sessions/new": ALL,
    "/sessions/{session}/check-out": ALL,
    "/sessions/{session}/correct": ALL,
    "/reports/": ALL,
    "/reports/usage": ALL,
    "/reports/billing": ALL,
    "/audit/": ALL,
    "/sites/": STAFF,
    "/sites/new": STAFF,
    f"/sites/{SITE}": STAFF,
    "/admin/users": ADMIN,
    "/admin/users/new": ADMIN,
    "/admin/users/lea": ADMIN,
    "/admin/tokens": ADMIN,
    "/admin/mail": ADMIN,
    "/account/": ALL,
}
#: What the store keys things by, never for a person to read.
INTERNAL = re.compile(
    r"murat-door|aurillac-a2ex|\b(?:user|cli|hub|api|token):|\b\w+_\w+\b|\bNone\b|\bnull\b"
    r"|\bTrue\b|\bFalse\b|\b1[0-9]{12}\b"
)
#: English words no French sentence holds: a string typed in a template without `_()`.
ENGLISH_WORDS = re.compile(
    r"\b(?:the|and|with|your|you|this|that|from|have|been|will|please|click|here|of|to|is|are"
    r"|yes|not|none|for|at|in|by|no|new|edit|save|cancel|delete|search|loading|error)\b",
    re.IGNORECASE,
)
#: Words that read the same in both languages or are names (the language button says
#: "English" in English, on purpose).
ALLOWED = {"English", "Pass", "Total", "Sites", "Description", "Menu", "Badge", "Type", "Message"}
#: What the header holds at 1280 px.
HEADER = ".header-bar .brand, .nav-links a, .user-menu > summary"
_seq = iter(range(1, 1_000_000))


def publish(broker: Mosquitto, event: dict[str, Any]) -> None:
    payload = json.dumps({**event, "seq": next(_seq)})
    subprocess.run(
        ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-q", "1",
         "-t", wire.events_topic(SITE, DEVICE), "-m", payload],
        check=True, timeout=10,
    )  # fmt: skip


def elodie_stay(hub: Hub) -> int | None:
    with hub.sessions() as session:
        query = select(PresenceSession.id).where(
            PresenceSession.member_id == "M0001", PresenceSession.end.is_(None)
        )
        return session.scalars(query).first()


@pytest.fixture
def busy_hub(running_hub: Hub, broker: Mosquitto) -> Hub:
    """Murat with Élodie in, an unknown badge refused, door events and a forced door."""
    add_user(running_hub.sessions, "ada", "admin", display_name="Ada Admin")
    add_user(running_hub.sessions, "dora", "department", display_name="Dora Vidal")
    add_user(running_hub.sessions, "lea", "animator", [SITE], display_name="Léa Martin")
    common: dict[str, Any] = {"site": SITE, "device": DEVICE, "clock_synced": True}
    tap: dict[str, Any] = {"reader": "entrance", "direction": "in"}
    # Stamped now, whatever the hour: a stay begun before closing ends at closing, one begun
    # after it lasts `max_session_h`, so Élodie is in at any time of day the test runs.
    publish(broker, wire.badge_event(**common, **tap, badge=ELODIE, access="granted"))
    publish(broker, wire.badge_event(**common, **tap, badge=STRANGER, access="denied",
                                     reason="unknown"))  # fmt: skip
    for state in ("open", "closed", "open", "closed"):
        publish(broker, wire.door_event(**common, door="main", state=state))
    publish(broker, wire.alarm_event(**common, kind="door_forced", door="main"))
    wait_until(lambda: elodie_stay(running_hub) is not None, timeout=15)
    wait_until(lambda: taps(running_hub, STRANGER, "denied") == 1, timeout=15)
    return running_hub


def problems_of(page: Page, width: int) -> list[str]:
    found = []
    scroll = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    if scroll[0] > scroll[1]:
        found.append(f"{scroll[0]} px wide in {scroll[1]}")
    if width >= 1024:
        # Every link and tool of the header side by side on one line, none over another.
        boxes: list[list[float]] = page.evaluate(
            "[...document.querySelectorAll(HEADER)].map(e => e.getBoundingClientRect())"
            ".map(r => [r.left, r.right, (r.top + r.bottom) / 2])".replace("HEADER", repr(HEADER))
        )
        lefts = sorted(boxes)
        middles = [middle for _, _, middle in boxes]
        if max(middles) - min(middles) > 12 or any(a[1] > b[0] + 1 for a, b in pairwise(lefts)):
            found.append("the header wraps or overlaps")
    else:
        height = page.evaluate("document.querySelector('.site-header').offsetHeight")
        if height > 90:
            found.append(f"the header is {height} px tall on a phone")
    text = page.evaluate("document.body.innerText")
    found += [f"internal: {m!r}" for m in sorted(set(INTERNAL.findall(text)))]
    words = text.replace("English", "")  # the language button, in its own language
    found += [f"English word: {m!r}" for m in sorted(set(ENGLISH_WORDS.findall(words)))]
    found += english_left({"English": text}, ALLOWED)
    violations: list[dict[str, Any]] = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    found += [
        f"axe {v['id']}: {v['nodes'][0]['target']}"
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]
    return found


@pytest.mark.parametrize("width", [1280, 390])
def test_every_page_fits_speaks_french_and_names_things_for_every_role(
    busy_hub: Hub, browser: Browser, width: int
) -> None:
    shots = os.environ.get("CONSOLE_SHOTS")
    stay = elodie_stay(busy_hub)
    found: dict[str, list[str]] = {}
    for login in ALL:
        # axe-core is injected as an inline script, which the pages' policy rightly forbids.
        context = browser.new_context(
            locale="fr-FR", viewport={"width": width, "height": 900}, bypass_csp=True
        )
        context.add_init_script(path=AXE)
        page = context.new_page()
        browser_sign_in(page, busy_hub.url, login)
        for template, roles in PAGES.items():
            if login not in roles:
                continue
            path = template.format(session=stay)
            answer = page.goto(busy_hub.url + path)
            assert answer is not None and answer.ok, path
            page.wait_for_load_state("networkidle")
            if shots:
                name = re.sub(r"\W+", "_", path).strip("_") or "board"
                page.screenshot(path=f"{shots}/{login}-{width}-{name}.png", full_page=True)
            left = problems_of(page, width)
            if left:
                found[f"{login} {path}"] = left
        context.close()
    assert found == {}


def test_a_check_out_from_the_board_takes_two_clicks(busy_hub: Hub, page: Page) -> None:
    browser_sign_in(page, busy_hub.url, "lea")
    card = page.locator(f"#site-{SITE}")
    expect(card.locator(".people")).to_contain_text("Élodie Vigier")
    card.get_by_role("link", name="Sortie d'Élodie Vigier").click()  # 1
    expect(page.locator("h1")).to_have_text("Enregistrer la sortie d'Élodie Vigier")
    page.get_by_role("button", name="Enregistrer la sortie").click()  # 2
    page.wait_for_url(f"{busy_hub.url}/#site-{SITE}")
    expect(page.locator(".flashes")).to_contain_text("Sortie d'Élodie Vigier enregistrée.")
    expect(page.locator(f"#site-{SITE} .present")).to_have_text("0")
    assert elodie_stay(busy_hub) is None
    with busy_hub.sessions() as session:
        row = session.scalars(
            select(PresenceSession).where(PresenceSession.member_id == "M0001")
        ).one()
    assert row.manual and row.manual_by == "user:lea" and row.end is not None


def test_a_new_member_made_for_a_presented_badge_gets_in_at_the_door(
    running_hub: Hub, page: Page, door: tuple[Agent, IO[str], MockPin]
) -> None:
    _, reader, strike = door
    # The department gives the newcomer a Pass: the door then opens at any hour the test runs
    # (a member without one gets the site's opening hours only).
    add_user(running_hub.sessions, "dora", "department", display_name="Dora Vidal")
    wait_until(lambda: door_version(running_hub)[0] is not None, timeout=15)
    browser_sign_in(page, running_hub.url, "dora")
    page.goto(f"{running_hub.url}/members/")
    present(reader, NEWCOMER)  # refused: nobody holds it yet
    wait_until(lambda: taps(running_hub, NEWCOMER, "denied") == 1, timeout=15)
    expect(page.locator("#unknown-list")).to_contain_text(NEWCOMER, timeout=15_000)
    page.get_by_role("button", name=f"Choisir le membre (badge {NEWCOMER})").click()
    page.get_by_role("link", name="Nouveau membre avec ce badge").click()
    expect(page.locator("h1")).to_have_text(f"Nouveau membre avec le badge {NEWCOMER}")
    page.get_by_label("Nom", exact=True).fill("Issartel")
    page.get_by_label("Prénom").fill("Amandine")
    page.get_by_label("Numéro de membre").fill("M0100")
    page.get_by_label("Pass Actifs Mobiles depuis le (facultatif)").fill(
        (date.today() - timedelta(days=1)).isoformat()
    )
    page.get_by_role("button", name="Créer le membre avec ce badge").click()
    expect(page.locator(".flashes")).to_contain_text(
        f"Amandine Issartel est membre, avec le badge {NEWCOMER}"
    )
    expect(page.locator("#badges")).to_contain_text(NEWCOMER)
    expect(page.locator("#door-list")).to_contain_text("à jour", timeout=15_000)
    assert "Boîtier de l'entrée" in page.locator("#door-list").inner_text()
    present(reader, NEWCOMER)  # the same card again: the door opens
    wait_until(lambda: taps(running_hub, NEWCOMER, "granted") == 1, timeout=15)
    wait_until(lambda: any(state.state for state in strike.states), timeout=5)


def test_on_a_phone_the_menu_is_one_button_that_unfolds_every_entry(
    busy_hub: Hub, browser: Browser
) -> None:
    context = browser.new_context(locale="fr-FR", viewport={"width": 390, "height": 844})
    phone = context.new_page()
    try:
        browser_sign_in(phone, busy_hub.url, "ada")
        menu = phone.locator(".nav-narrow")
        expect(menu.get_by_role("link", name="Membres")).to_be_hidden()
        menu.locator("summary").click()
        for entry in ("Tableau de bord", "Membres", "Présences", "Rapports", "Sites", "Journal",
                      "Utilisateurs"):  # fmt: skip
            expect(menu.get_by_role("link", name=entry)).to_be_visible()
        expect(menu.get_by_role("button", name="Se déconnecter")).to_be_visible()
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390
        if os.environ.get("CONSOLE_SHOTS"):
            phone.screenshot(path=f"{os.environ['CONSOLE_SHOTS']}/ada-390-menu-open.png")
        menu.get_by_role("link", name="Journal").click()
        expect(phone.locator("h1")).to_have_text("Journal")
    finally:
        context.close()


def test_the_network_view_has_one_live_row_per_site_that_opens_the_site(
    busy_hub: Hub, page: Page, broker: Mosquitto
) -> None:
    browser_sign_in(page, busy_hub.url, "dora")
    row = page.locator(f"#row-{SITE}")
    expect(page.locator("table.network tbody tr")).to_have_count(3)
    expect(row).to_contain_text("1 / 9")
    expect(row).to_contain_text("1 alarme")
    expect(page.locator(".site-card")).to_have_count(0)  # rows, not stacked cards
    pierre = wire.badge_event(site=SITE, device=DEVICE, badge="0A1B2C3D", reader="entrance",
                              direction="in", access="granted", clock_synced=True)  # fmt: skip
    publish(broker, pierre)
    expect(row).to_contain_text("2 / 9", timeout=15_000)  # by itself, from the stream
    row.get_by_role("link", name="La Cocotte Numérique (Murat)").click()
    expect(page.locator(f"#site-{SITE} .people")).to_contain_text("Pierre Delmas")
    expect(page.locator("table.network")).to_have_count(0)
