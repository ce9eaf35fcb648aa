"""Quarantine kept until a person decides (issue 13), on a real Mosquitto and a real
`telecentre-hub` restarted with its retention, on SQLite and PostgreSQL: a tap stamped 1970
(a Pi booted without its clock) stays listed through restarts, until an admin applies it (a
session is made) or dismisses it (gone, audited), or until a year after its receipt."""

from __future__ import annotations

import json
import signal
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from hub.presence.retention import apply_retention
from hub.store.events import Incoming, store_events
from hub.store.models import AuditEntry, Event, EventId, PresenceSession
from telecentre import wire
from tests.hub_process import HUB, HubProcess
from tests.integration.test_end_to_end_ack import (
    TOPIC,
    count,
    eventually,
    mosquitto_pub,
    sessions,
    tap,
)
from tests.servers import Mosquitto

__all__ = ["sessions"]  # the fixture, with the site and member imported

NINETEEN_SEVENTY = datetime(1970, 1, 1, 0, 0, 12, tzinfo=UTC)


def outcome(store: sessionmaker[Session], event_id: str) -> tuple[str, str | None] | None:
    with store() as session:
        row = session.get(Event, event_id)
        return None if row is None else (row.outcome or "", row.outcome_reason)


def retention_runs(store: sessionmaker[Session]) -> int:
    with store() as session:
        return len(
            session.scalars(select(AuditEntry).where(AuditEntry.action == "retention")).all()
        )


def cli(hub: HubProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HUB, "--config", str(hub.config), *args], capture_output=True, text=True, timeout=120
    )


def test_a_1970_tap_stays_quarantined_through_restarts_until_applied_or_dismissed(
    broker: Mosquitto,
    sessions: sessionmaker[Session],
    db_url: str,
    tmp_path: Path,
    hubs: list[HubProcess],
) -> None:
    hub = HubProcess(tmp_path / "hub", broker, db_url, "hub-1")
    hubs.append(hub)
    hub.start()
    first, second = (
        tap(1, NINETEEN_SEVENTY) | {"clock_synced": False},
        tap(2, NINETEEN_SEVENTY + timedelta(hours=3)) | {"clock_synced": False},
    )
    mosquitto_pub(broker, TOPIC, [wire.encode(first).decode(), wire.encode(second).decode()])
    eventually(lambda: count(sessions, Event) == 2, "the 1970 taps were not stored")
    eventually(lambda: outcome(sessions, first["id"]) == ("quarantined", "too_old"), "no verdict")
    for run in (2, 3):  # retention runs at every start
        hub.signal(signal.SIGTERM)
        hub.start()
        eventually(
            lambda run=run: retention_runs(sessions) == run, "retention did not run at start"
        )
    assert (
        outcome(sessions, first["id"])
        == outcome(sessions, second["id"])
        == (
            "quarantined",
            "too_old",
        )
    )
    hub.signal(signal.SIGTERM)

    applied = cli(hub, "events", "apply", first["id"])
    assert applied.returncode == 0, applied.stderr
    assert json.loads(applied.stdout) == {"id": first["id"], "outcome": "counted"}
    with sessions() as session:
        made = session.scalars(select(PresenceSession)).one()
        assert made.start_event_id == first["id"] and made.member_id == "M001"

    dismissed = cli(hub, "events", "dismiss", second["id"])
    assert dismissed.returncode == 0, dismissed.stderr
    assert outcome(sessions, second["id"]) is None
    assert cli(hub, "events", "dismiss", second["id"]).returncode == 1  # gone
    with sessions() as session:
        audit = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "event_dismissed")
        ).one()
        assert audit.detail["event_id"] == second["id"] and audit.detail["reason"] == "too_old"
        assert audit.actor.startswith("cli:")
        assert session.get(EventId, second["id"]) is not None  # a redelivery: a duplicate


def test_retention_keeps_a_quarantined_tap_a_year_after_its_receipt(
    sessions: sessionmaker[Session],
) -> None:
    now = datetime.now(UTC)
    with sessions.begin() as session:
        for days, event in ((364, tap(1, NINETEEN_SEVENTY)), (366, tap(2, NINETEEN_SEVENTY))):
            received = now - timedelta(days=days)
            store_events(session, [Incoming(wire.encode(event), None, received)])
            session.execute(
                update(Event)
                .where(Event.id == event["id"])
                .values(outcome="quarantined", outcome_reason="too_old")
            )
    with sessions.begin() as session:
        result = apply_retention(session, now, quarantine_days=365)
    assert result.events_deleted == 1
    with sessions() as session:
        left = session.scalars(select(Event.seq)).all()
    assert left == [1]


def test_an_admin_applies_or_dismisses_a_quarantined_tap_in_the_console(
    sessions: sessionmaker[Session],
) -> None:
    from hub.config import HubConfig
    from hub.presence.engine import Presence
    from hub.web.app import create_app
    from tests.console import add_user, client_sign_in, csrf_token
    from tests.integration.test_console_french import visible

    presence = Presence()
    events = [tap(1, NINETEEN_SEVENTY), tap(2, NINETEEN_SEVENTY + timedelta(hours=2))]
    with sessions.begin() as session:
        stored = store_events(session, [Incoming(wire.encode(e)) for e in events])
        presence.apply(session, stored.new)
    add_user(sessions, "ada", "admin")
    add_user(sessions, "lea", "animator", ["murat"])
    app = create_app(HubConfig(), sessionmaker=sessions, presence_hooks=[presence.apply])
    animator, admin = app.test_client(), app.test_client()
    assert client_sign_in(animator, "lea") == 302
    assert animator.get("/admin/quarantine/").status_code == 403
    assert client_sign_in(admin, "ada") == 302
    page = admin.get("/admin/quarantine/")
    text = visible(page.text)
    assert "Badgeages en quarantaine" in text and "Anne Durand" in text and "1970" in text
    token = csrf_token(page.text)
    refused = animator.post(f"/admin/quarantine/{events[1]['id']}/dismiss", data={})
    assert refused.status_code in (400, 403)
    done = admin.post(
        f"/admin/quarantine/{events[1]['id']}/dismiss",
        data={"csrf_token": token},
        follow_redirects=True,
    )
    assert "Le badgeage est écarté." in visible(done.text)
    assert outcome(sessions, events[1]["id"]) is None
    done = admin.post(
        f"/admin/quarantine/{events[0]['id']}/apply",
        data={"csrf_token": token},
        follow_redirects=True,
    )
    assert "Le badgeage est appliqué." in visible(done.text)
    assert "Aucun badgeage n'attend de décision" in visible(done.text)
    assert outcome(sessions, events[0]["id"]) == ("counted", None)
    with sessions() as session:
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.actor == "user:ada").order_by(AuditEntry.id)
        ).all()
    assert actions[-2:] == ["event_dismissed", "event_applied"]
