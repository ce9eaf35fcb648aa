"""The members and sessions pages in real Chromium against the running hub, a real Mosquitto
and SQLite: enrol a badge by tapping it at a real edge agent (stdin reader, mock pins) and
see the door apply the new list and let it in; a manual check-out found in the sessions CSV,
still there after a late tap; axe-core finds no serious or critical violation."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

import pytest
import yaml
from gpiozero import Device
from gpiozero.pins.mock import MockFactory, MockPin
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import func, select

from edge.agent import Agent
from edge.clock import Clock
from edge.config import EdgeConfig
from edge.hardware import build_hardware
from hub.service import Hub
from hub.store.models import AccessListVersion, Event, PresenceSession
from hub.store.models import Device as DeviceRow
from telecentre import wire
from telecentre.config import load_config
from telecentre.signing import SigningKey
from tests.console import add_user, axe_page, browser_sign_in
from tests.servers import Mosquitto
from tests.waiting import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.broker]

SITE, DEVICE = "murat", "murat-door"
STRIKE = 27
NEWCOMER = "CAFEF00D12"
AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
_seq = iter(range(1, 1_000_000))


@pytest.fixture
def animator(running_hub: Hub) -> str:
    add_user(running_hub.sessions, "lea", "animator", [SITE], display_name="Léa Roux")
    return "lea"


@pytest.fixture
def door(
    tmp_path: Path, broker: Mosquitto, running_hub: Hub
) -> Iterator[tuple[Agent, IO[str], MockPin]]:
    """The Murat door's edge agent on mock pins, with a stdin reader to tap cards on."""
    previous = Device.pin_factory
    pins = MockFactory()
    Device.pin_factory = pins
    hub_key = SigningKey.load(running_hub.config.signing_key_path).public_text
    document = {
        "site": SITE,
        "device": DEVICE,
        "pins": "mock",
        "state_dir": str(tmp_path / "edge"),
        "mqtt": {"host": "127.0.0.1", "port": broker.port, "keepalive_s": 5},
        "access": {"hub_public_keys": [hub_key]},  # it trusts the lists the hub signs
        "readers": [{"id": "entrance", "type": "stdin", "direction": "in", "door": "main"}],
        "doors": [{"id": "main", "sensor_pin": 17, "strike_pin": STRIKE, "unlock_s": 3,
                   "sensor_closed_when_active": True}],
    }  # fmt: skip
    path = tmp_path / "edge.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    config = load_config(EdgeConfig, path, environ={})
    read_fd, write_fd = os.pipe()
    stdin = os.fdopen(read_fd, "r", encoding="utf-8")
    reader = os.fdopen(write_fd, "w", encoding="utf-8")
    agent = Agent(config, build_hardware(config, stdin=stdin), clock=Clock(synced=lambda: True))
    agent.start()
    yield agent, reader, pins.pin(STRIKE)
    agent.stop()
    reader.close()
    pins.reset()
    Device.pin_factory = previous


def present(reader: IO[str], badge: str) -> None:
    """A card on the reader."""
    reader.write(badge + "\n")
    reader.flush()


def taps(hub: Hub, badge: str, access: str) -> int:
    with hub.sessions() as session:
        return (
            session.scalar(select(func.count()).where(Event.badge == badge, Event.access == access))
            or 0
        )


def door_version(hub: Hub) -> tuple[int | None, int | None]:
    with hub.sessions() as session:
        device = session.get(DeviceRow, DEVICE)
        latest = session.scalar(
            select(func.max(AccessListVersion.version)).where(AccessListVersion.site_id == SITE)
        )
        return (None if device is None else device.access_version), latest


def test_enrol_a_badge_by_tapping_it_then_the_door_lets_it_in(
    running_hub: Hub, page: Page, animator: str, door: tuple[Agent, IO[str], MockPin]
) -> None:
    _, reader, strike = door
    wait_until(lambda: door_version(running_hub)[0] is not None, timeout=15)
    browser_sign_in(page, running_hub.url, animator)
    page.get_by_role("link", name="Membres").click()
    page.get_by_label("Trouver un membre").fill("delmas")
    page.get_by_role("button", name="Rechercher").click()
    page.get_by_role("link", name="Delmas Pierre").click()
    expect(page.locator("h1")).to_contain_text("Pierre Delmas")
    expect(page.locator("#unknown-list")).to_contain_text("Aucun badge inconnu")
    present(reader, NEWCOMER)  # the newcomer's card, unknown: refused at the door…
    wait_until(lambda: taps(running_hub, NEWCOMER, "denied") == 1, timeout=15)
    assert not any(state.state for state in strike.states)
    # … and listed on the open page by itself, without a reload.
    expect(page.locator("#unknown-list")).to_contain_text(NEWCOMER, timeout=15_000)
    before = door_version(running_hub)[1]
    page.get_by_role("button", name=f"Attribuer à Pierre Delmas ({NEWCOMER})").click()
    expect(page.locator(".flashes")).to_contain_text(
        f"Le badge {NEWCOMER} ouvre désormais les portes à Pierre Delmas"
    )
    expect(page.locator("#badges")).to_contain_text(NEWCOMER)
    # The list went out at once; the page shows the door applying it, by itself.
    wait_until(lambda: (door_version(running_hub)[1] or 0) > (before or 0), timeout=10)
    expect(page.locator("#door-list")).to_contain_text("à jour", timeout=15_000)
    applied, latest = door_version(running_hub)
    assert applied == latest
    assert NEWCOMER not in page.locator("#unknown-list").inner_text()
    present(reader, NEWCOMER)  # the same card again: the door opens
    wait_until(lambda: taps(running_hub, NEWCOMER, "granted") == 1, timeout=15)
    wait_until(lambda: any(state.state for state in strike.states), timeout=5)


def publish(broker: Mosquitto, event: dict[str, Any]) -> None:
    """One event on the device's own topic, as the device sends it (QoS 1)."""
    payload = json.dumps({**event, "seq": next(_seq)})
    subprocess.run(
        ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-q", "1",
         "-t", wire.events_topic(event["site"], event["device"]), "-m", payload],
        check=True, timeout=10,
    )  # fmt: skip


def badge_tap(badge: str, direction: str, at: datetime) -> dict[str, Any]:
    event = wire.badge_event(
        site=SITE,
        device=DEVICE,
        badge=badge,
        reader="entrance",
        direction="in" if direction == "in" else "out",
        access="granted",
        clock_synced=True,
    )
    return {**event, "ts": at.isoformat()}


ELODIE = "04A2B3C4D5E6F7"  # M0001 Élodie Vigier in the demo's members


def sessions_of(hub: Hub, member: str) -> list[PresenceSession]:
    with hub.sessions() as session:
        query = select(PresenceSession).where(PresenceSession.member_id == member)
        return list(session.scalars(query.order_by(PresenceSession.start)))


def test_a_manual_check_out_stays_in_the_csv_after_a_late_tap(
    running_hub: Hub, page: Page, animator: str, broker: Mosquitto
) -> None:
    now = datetime.now().astimezone()
    arrival = now - timedelta(hours=2)
    publish(broker, badge_tap(ELODIE, "in", arrival))
    wait_until(lambda: len(sessions_of(running_hub, "M0001")) == 1, timeout=15)
    browser_sign_in(page, running_hub.url, animator)
    page.goto(f"{running_hub.url}/sessions/?site={SITE}")
    row = page.get_by_role("row").filter(has_text="Élodie Vigier")
    row.get_by_role("button", name="Sortie").click()
    expect(page.locator("h1")).to_have_text("Enregistrer la sortie d'Élodie Vigier")
    departure = (now - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M")
    page.get_by_label("Départ").fill(departure)
    page.get_by_role("button", name="Enregistrer la sortie").click()
    expect(page.get_by_text("Indiquez la raison")).to_be_visible()  # the reason is required
    page.get_by_label("Départ").fill(departure)
    page.get_by_label("Motif").fill("Sortie non badgée, vue à 17 h")
    page.get_by_role("button", name="Enregistrer la sortie").click()
    expect(page.locator(".flashes")).to_contain_text("Sortie d'Élodie Vigier enregistrée.")
    expect(page.get_by_role("row").filter(has_text="Élodie Vigier")).to_contain_text("manuelle")

    def csv_rows() -> list[dict[str, str]]:
        answer = page.request.get(page.url.replace("/sessions/?", "/sessions/export.csv?"))
        assert answer.ok
        return [r for r in csv.DictReader(io.StringIO(answer.text())) if r["member_id"] == "M0001"]

    [row_before] = csv_rows()
    assert row_before["manual"] == "true" and row_before["end"].startswith(departure)
    # A tap out the door had kept while offline arrives late, before the check-out recorded.
    late = badge_tap(ELODIE, "out", now - timedelta(minutes=50))
    publish(broker, late)
    wait_until(lambda: taps(running_hub, ELODIE, "granted") == 2, timeout=15)
    [stay] = sessions_of(running_hub, "M0001")
    assert stay.manual and stay.manual_reason == "Sortie non badgée, vue à 17 h"
    assert csv_rows() == [row_before]


def serious_violations(page: Page) -> list[tuple[str, int]]:
    page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [(v["id"], len(v["nodes"])) for v in found if v["impact"] in ("serious", "critical")]


@pytest.mark.parametrize("width", [1280, 390])
def test_axe_finds_no_serious_violation_on_members_sessions_reports(
    running_hub: Hub, browser: Browser, animator: str, width: int
) -> None:
    add_user(running_hub.sessions, "dora", "department", display_name="Dora Vidal")
    found = {}
    for login, paths in [
        ("lea", ["/members/", "/members/M0001", "/members/new", "/sessions/", "/sessions/new"]),
        ("dora", ["/reports/", "/reports/usage", "/reports/billing", "/sites/murat"]),
    ]:
        with axe_page(browser, running_hub.url, login, width) as page:
            for path in paths:
                page.goto(running_hub.url + path)
                found[path] = serious_violations(page)
    assert {path: violations for path, violations in found.items() if violations} == {}


def test_the_pages_run_within_their_content_security_policy(
    running_hub: Hub, page: Page, animator: str, broker: Mosquitto
) -> None:
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text else None)
    browser_sign_in(page, running_hub.url, animator)
    page.goto(f"{running_hub.url}/members/M0002")
    publish(
        broker,
        {
            **wire.badge_event(
                site=SITE,
                device=DEVICE,
                badge=NEWCOMER,
                reader="entrance",
                direction="in",
                access="denied",
                reason="unknown",
                clock_synced=True,
            )
        },
    )
    # The live list polls and redraws itself: no script of its own, no eval, no inline style.
    expect(page.locator("#unknown-list")).to_contain_text(NEWCOMER, timeout=15_000)
    expect(page.locator("#door-list")).to_be_visible()
    for path in ("/sessions/", "/reports/", "/sessions/new"):
        page.goto(running_hub.url + path)
    assert refused == []
