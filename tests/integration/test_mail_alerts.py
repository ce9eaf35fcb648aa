"""Alerts by e-mail end to end: alarms published as a door's device publishes them, on a real
Mosquitto, stored by the hub service, told by its mail thread to a real SMTP server
(aiosmtpd) that may be down for a while, across a restart of the hub."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from hub.config import HubConfig
from hub.doors.alarms import acknowledge
from hub.service import Hub
from hub.store.models import Alarm, MailMessage
from telecentre import wire
from tests.console import add_user
from tests.mail_server import MailServer
from tests.servers import REPO, Mosquitto, free_port
from tests.waiting import wait_until

pytestmark = pytest.mark.broker

LEA, MARC, DEPARTMENT = "lea@murat.example", "marc@mauriac.example", "alertes@cantal.example"
BOARD = "https://hub.cybercantal.example"
_seq = iter(range(1, 1_000_000))


def forced_door(broker: Mosquitto, site: str = "murat", device: str = "murat-door") -> None:
    event = wire.alarm_event(
        site=site, device=device, kind="door_forced", door="main", clock_synced=True
    )
    subprocess.run(
        ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-q", "1",
         "-t", wire.events_topic(site, device), "-m", json.dumps({**event, "seq": next(_seq)})],
        check=True, timeout=10,
    )  # fmt: skip


def hub_config(tmp_path: Path, broker: Mosquitto, mail: MailServer, **settings: Any) -> HubConfig:
    return HubConfig.model_validate(
        {
            "state_dir": str(tmp_path / "hub"),
            "mqtt": {"port": broker.port},
            "http": {"port": free_port()},
            "sites_file": str(REPO / "deploy" / "demo" / "sites.yaml"),
            "console": {"public_url": BOARD},
            "mail": mail.settings(**settings),
            "alerts": {"department_email": DEPARTMENT},
        }
    )


@pytest.fixture
def hub(tmp_path: Path, broker: Mosquitto, mail_server: MailServer) -> Iterator[Hub]:
    """The hub service, Léa running Murat and Marc running Mauriac, both with an e-mail."""
    service = Hub(hub_config(tmp_path, broker, mail_server))
    service.start()
    add_user(service.sessions, "lea", "animator", ["murat"], email=LEA)
    add_user(service.sessions, "marc", "animator", ["mauriac"], email=MARC)
    wait_until(service.ingest.subscribed.is_set, timeout=15)
    yield service
    service.stop()


def alarms(hub: Hub) -> int:
    with hub.sessions() as session:
        return session.scalar(select(func.count()).select_from(Alarm)) or 0


def settle(hub: Hub) -> None:
    """Two more rounds of the mail thread: whatever it would still send has gone."""
    assert hub.mail.wait_rounds(2, timeout=30)


def test_a_forced_door_at_murat_reaches_murats_animator_and_not_mauriacs(
    hub: Hub, broker: Mosquitto, mail_server: MailServer
) -> None:
    forced_door(broker)
    wait_until(lambda: mail_server.inbox(LEA), timeout=30)
    wait_until(lambda: mail_server.inbox(DEPARTMENT), timeout=30)
    settle(hub)
    assert len(mail_server.inbox(LEA)) == 1
    assert len(mail_server.inbox(DEPARTMENT)) == 1
    assert mail_server.inbox(MARC) == []
    message = mail_server.inbox(LEA)[0]
    assert message["Subject"] == "Porte forcée : Porte d'entrée – La Cocotte Numérique (Murat)"
    assert message["From"] == "Télécentres CyberCantal <alertes@cybercantal.example>"
    body = message.get_content()
    assert "Porte : Porte d'entrée" in body and "main" not in body
    assert f"Tableau de bord : {BOARD}/" in body


def test_ten_alarms_in_a_minute_send_one_email(
    hub: Hub, broker: Mosquitto, mail_server: MailServer
) -> None:
    for _ in range(10):
        forced_door(broker)
    wait_until(lambda: alarms(hub) == 10, timeout=30)
    wait_until(lambda: mail_server.inbox(LEA), timeout=30)
    settle(hub)
    assert len(mail_server.inbox(LEA)) == 1
    assert len(mail_server.inbox(DEPARTMENT)) == 1


def attempts(hub: Hub) -> list[int]:
    with hub.sessions() as session:
        return list(session.scalars(select(MailMessage.attempts).order_by(MailMessage.id)))


def test_the_smtp_server_down_then_back_delivers_the_alert_once(
    hub: Hub, broker: Mosquitto, mail_server: MailServer
) -> None:
    mail_server.stop()
    forced_door(broker)
    # Queued for Léa and the department, each refused a few times while the server is down.
    wait_until(lambda: len(attempts(hub)) == 2 and min(attempts(hub)) >= 3, timeout=60)
    with hub.sessions() as session:
        waiting = session.scalars(select(MailMessage)).all()
        assert all(m.sent_at is None and m.failed_at is None for m in waiting)
        assert all("Connection refused" in (m.last_error or "") for m in waiting)
    mail_server.start()
    wait_until(lambda: mail_server.inbox(LEA) and mail_server.inbox(DEPARTMENT), timeout=60)
    settle(hub)
    assert len(mail_server.inbox(LEA)) == 1
    assert len(mail_server.inbox(DEPARTMENT)) == 1


def test_a_message_queued_when_the_hub_stops_is_delivered_once_after_its_restart(
    tmp_path: Path, broker: Mosquitto, mail_server: MailServer, hub: Hub
) -> None:
    mail_server.stop()
    forced_door(broker)
    wait_until(lambda: len(attempts(hub)) == 2 and min(attempts(hub)) >= 1, timeout=60)
    hub.stop()
    mail_server.start()
    again = Hub(hub.config)
    again.start()
    try:
        wait_until(lambda: mail_server.inbox(LEA) and mail_server.inbox(DEPARTMENT), timeout=60)
        settle(again)
        assert len(mail_server.inbox(LEA)) == 1
        assert len(mail_server.inbox(DEPARTMENT)) == 1
        assert mail_server.inbox(MARC) == []
    finally:
        again.stop()


def test_an_address_the_server_refuses_for_good_is_given_up_at_once(
    hub: Hub, broker: Mosquitto, mail_server: MailServer
) -> None:
    with hub.sessions.begin() as session:
        from hub.people import users

        users.set_email(session, "lea", "nobody@murat.example", actor="test")
    forced_door(broker)
    wait_until(lambda: mail_server.inbox(DEPARTMENT), timeout=30)

    def refused() -> list[Any]:
        with hub.sessions() as session:
            return list(
                session.execute(
                    select(MailMessage.attempts, MailMessage.last_error).where(
                        MailMessage.failed_at.is_not(None)
                    )
                )
            )

    wait_until(refused, timeout=30)
    [(tries, error)] = refused()
    assert tries == 1 and error.startswith("550")


def test_an_alarm_wakes_the_mail_thread_without_waiting_for_its_poll(
    tmp_path: Path, broker: Mosquitto, mail_server: MailServer
) -> None:
    service = Hub(hub_config(tmp_path, broker, mail_server, poll_s=300))
    service.start()
    try:
        add_user(service.sessions, "lea", "animator", ["murat"], email=LEA)
        wait_until(service.ingest.subscribed.is_set, timeout=15)
        wait_until(lambda: service.mail.rounds >= 1, timeout=30)  # the round at start is over
        forced_door(broker)
        wait_until(lambda: mail_server.inbox(LEA), timeout=30)  # not 300 s later
    finally:
        service.stop()


def test_an_acknowledged_alarm_sends_one_back_to_normal_with_its_duration(
    hub: Hub, broker: Mosquitto, mail_server: MailServer
) -> None:
    forced_door(broker)
    wait_until(lambda: mail_server.inbox(LEA), timeout=30)
    with hub.sessions.begin() as session:
        for alarm_id in session.scalars(select(Alarm.id)):
            acknowledge(session, alarm_id, actor="user:lea", sites=["murat"])
    wait_until(lambda: len(mail_server.inbox(LEA)) == 2, timeout=30)
    wait_until(lambda: len(mail_server.inbox(DEPARTMENT)) == 2, timeout=30)
    settle(hub)
    assert len(mail_server.inbox(LEA)) == 2 and len(mail_server.inbox(DEPARTMENT)) == 2
    assert mail_server.inbox(MARC) == []
    back = mail_server.inbox(LEA)[1]
    assert back["Subject"] == (
        "Retour à la normale : Porte forcée : Porte d'entrée – La Cocotte Numérique (Murat)"
    )
    body = back.get_content()
    assert body.startswith("L'alarme a été prise en compte sur le tableau de bord le ")
    assert "Durée : moins d'une minute." in body
    assert "Porte : Porte d'entrée" in body and f"Tableau de bord : {BOARD}/" in body
