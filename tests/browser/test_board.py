"""The live board in real Chromium against the running hub, a real Mosquitto and SQLite:
sign in, watch taps arrive without reloading, open the door of a real edge agent (mock
pins), acknowledge an alarm. Taps are published as a device would, with `mosquitto_pub`."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from gpiozero import Device
from gpiozero.pins.mock import MockFactory, MockPin
from playwright.sync_api import Locator, Page, expect

from edge.agent import Agent
from edge.clock import Clock
from edge.config import EdgeConfig
from edge.hardware import build_hardware
from hub.people import users
from hub.service import Hub
from hub.store.models import Alarm, AuditEntry, DoorCommand
from hub.store.models import Device as DeviceRow
from telecentre import wire
from telecentre.config import load_config
from telecentre.signing import SigningKey
from tests.console import add_user, browser_sign_in
from tests.servers import Mosquitto
from tests.waiting import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.broker]

SITE, DEVICE = "murat", "murat-door"
ELODIE = "04A2B3C4D5E6F7"  # M0001 Élodie Vigier in the demo's members
STRIKE = 27
_seq = iter(range(1, 1_000_000))


def publish(broker: Mosquitto, event: dict[str, Any]) -> None:
    """One event on the site's topic, as its device sends it (QoS 1)."""
    payload = json.dumps({**event, "seq": next(_seq)})
    subprocess.run(
        ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-q", "1",
         "-t", wire.events_topic(event["site"], event["device"]), "-m", payload],
        check=True, timeout=10,
    )  # fmt: skip


def tap(broker: Mosquitto, badge: str, access: str = "granted", reason: str | None = None) -> None:
    publish(
        broker,
        wire.badge_event(
            site=SITE,
            device=DEVICE,
            badge=badge,
            reader="entrance",
            direction="in",
            access="granted" if access == "granted" else "denied",
            reason="unknown" if reason == "unknown" else None,
            clock_synced=True,
        ),
    )


@pytest.fixture
def animator(running_hub: Hub) -> str:
    add_user(running_hub.sessions, "lea", "animator", [SITE], display_name="Léa Animatrice")
    return "lea"


def device_state(hub: Hub) -> str | None:
    with hub.sessions() as session:
        device = session.get(DeviceRow, DEVICE)
        return device.state if device is not None else None


def card(page: Page, site: str = SITE) -> Locator:
    return page.locator(f"#site-{site}")


def test_the_board_changes_by_itself_when_a_member_taps(
    running_hub: Hub, broker: Mosquitto, page: Page, animator: str
) -> None:
    browser_sign_in(page, running_hub.url, animator)
    murat = card(page)
    expect(murat.locator("h2")).to_have_text("La Cocotte Numérique (Murat)")
    expect(murat.locator(".present")).to_have_text("0")
    expect(murat).to_contain_text("présent sur 9 postes")
    expect(page.locator("#site-mauriac")).to_have_count(0)  # not this animator's site
    page.evaluate("window.notReloaded = true")

    tap(broker, ELODIE)
    expect(murat.locator(".present")).to_have_text("1")
    expect(murat.locator(".people")).to_contain_text("Élodie Vigier")
    expect(murat.locator(".taps li").first).to_contain_text("accepté")
    expect(murat.locator(".taps li").first).to_contain_text("Élodie Vigier")
    expect(page.locator("#board-announcer")).to_have_text(
        "La Cocotte Numérique (Murat) : 1 présent sur 9 postes"
    )

    tap(broker, "0BADC0DE", access="denied", reason="unknown")
    expect(murat.locator(".taps li").first).to_contain_text("refusé")
    expect(murat.locator(".taps li").first).to_contain_text("badge inconnu …C0DE")
    assert page.evaluate("window.notReloaded") is True


def test_the_board_comes_back_after_the_hub_restarts(
    running_hub: Hub, broker: Mosquitto, page: Page, animator: str
) -> None:
    browser_sign_in(page, running_hub.url, animator)
    expect(card(page).locator(".present")).to_have_text("0")
    page.evaluate("window.notReloaded = true")
    config = running_hub.config
    running_hub.stop()
    again = Hub(config)
    again.start()
    try:
        wait_until(again.ingest.subscribed.is_set, timeout=15)
        tap(broker, ELODIE)
        expect(card(page).locator(".present")).to_have_text("1", timeout=20_000)
        assert page.evaluate("window.notReloaded") is True
    finally:
        again.stop()  # the fixture's stop of the first one finds it stopped already


def test_an_alarm_stands_out_until_acknowledged(
    running_hub: Hub, broker: Mosquitto, page: Page, animator: str
) -> None:
    browser_sign_in(page, running_hub.url, animator)
    murat = card(page)
    expect(murat.locator(".alarm")).to_have_count(0)
    publish(
        broker,
        wire.alarm_event(
            site=SITE, device=DEVICE, kind="door_forced", door="main", clock_synced=True
        ),
    )
    alarm = murat.locator(".alarm")
    expect(alarm).to_contain_text("Alarme : porte forcée")  # a word, not only a colour
    expect(alarm.locator(".alarm-icon")).to_have_text("⚠")
    expect(page.locator("#board-alerter")).to_contain_text("Alarme à La Cocotte Numérique")
    alarm.get_by_role("button", name="Prendre en compte").click()
    expect(page.locator(".flash")).to_contain_text("Alarme prise en compte.")
    expect(card(page).locator(".alarm")).to_have_count(0)
    with running_hub.sessions() as session:
        stored = session.query(Alarm).one()
        assert stored.acknowledged_by == "user:lea" and stored.acknowledged_at is not None
        assert session.query(AuditEntry).filter_by(action="alarm_acknowledged").count() == 1


def test_a_board_whose_user_changed_sites_shows_the_new_ones(
    running_hub: Hub, page: Page, animator: str
) -> None:
    browser_sign_in(page, running_hub.url, animator)
    expect(card(page)).to_be_visible()
    with running_hub.sessions.begin() as session:
        users.update_user(session, animator, actor="test", sites=["mauriac"])
    running_hub.changes.publish(
        {SITE}
    )  # the next change: Murat's card is not sent, the page reloads
    expect(card(page, "mauriac")).to_be_visible()
    expect(card(page)).to_have_count(0)


# --- opening the door of a real agent ------------------------------------------------------


@pytest.fixture
def agent(tmp_path: Path, broker: Mosquitto, running_hub: Hub) -> Iterator[tuple[Agent, MockPin]]:
    """The Murat door's edge agent on mock pins, connected to the hub's broker."""
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
    keyboard = os.fdopen(write_fd, "w", encoding="utf-8")
    running = Agent(config, build_hardware(config, stdin=stdin), clock=Clock(synced=lambda: True))
    running.start()
    strike: MockPin = pins.pin(STRIKE)
    yield running, strike
    running.stop()
    keyboard.close()
    pins.reset()
    Device.pin_factory = previous


def test_opening_the_door_from_the_console_unlocks_the_agents_strike(
    running_hub: Hub, page: Page, animator: str, agent: tuple[Agent, MockPin]
) -> None:
    _, strike = agent
    wait_until(lambda: device_state(running_hub) == "online", timeout=15)
    browser_sign_in(page, running_hub.url, animator)
    card(page).get_by_role("link", name="Ouvrir la porte").click()
    expect(page.locator("h1")).to_have_text("Ouvrir la porte de La Cocotte Numérique (Murat)")
    page.get_by_label("Motif").fill("Livraison de cartons")
    assert not any(state.state for state in strike.states)
    page.get_by_role("button", name="Ouvrir maintenant").click()
    expect(page.locator("#command-state")).to_contain_text(
        "Porte d'entrée ouverte : le boîtier l'a confirmé"
    )
    assert any(state.state for state in strike.states)  # the strike went high
    with running_hub.sessions() as session:
        command = session.query(DoorCommand).one()
        assert (command.ok, command.reason, command.requested_by) == (
            True, "Livraison de cartons", "user:lea"
        )  # fmt: skip
        entry = session.query(AuditEntry).filter_by(action="door_opened").one()
        assert entry.site_id == SITE and entry.detail["reason"] == "Livraison de cartons"


def test_a_door_of_an_offline_device_is_not_opened(
    running_hub: Hub, page: Page, animator: str, broker: Mosquitto
) -> None:
    status = wire.Status(
        v=1, device=DEVICE, site=SITE, state="offline", ts=datetime.now().astimezone()
    )
    subprocess.run(
        ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-q", "1", "-r",
         "-t", wire.status_topic(SITE, DEVICE), "-m", wire.encode(status).decode()],
        check=True, timeout=10,
    )  # fmt: skip
    wait_until(lambda: device_state(running_hub) == "offline", timeout=15)
    browser_sign_in(page, running_hub.url, animator)
    page.goto(f"{running_hub.url}/board/{SITE}/door")
    page.get_by_label("Motif").fill("Visiteur")
    page.get_by_role("button", name="Ouvrir maintenant").click()
    expect(page.locator("#command-state")).to_contain_text("Appareil hors ligne")
