"""The hub service as `telecentre-hub` runs it (hub/service.py), on a real broker: what it
publishes at start, and how it picks up imports made from a shell."""

from __future__ import annotations

import json
import logging
import stat
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import func, select

from hub.config import HubConfig
from hub.doors.access_lists import record_import
from hub.doors.enrolment import assign_badge
from hub.people.imports import import_members
from hub.service import Hub
from hub.store.models import AccessListVersion, AuditEntry, Device, utcnow
from telecentre import wire
from telecentre.signing import TrustedKeys
from tests.servers import REPO, Mosquitto, free_port
from tests.waiting import wait_until

DEMO = REPO / "deploy" / "demo"


def retained_list(broker: Mosquitto, site: str) -> wire.AccessList | None:
    """The access list the broker holds for `site`, as an edge gets it when it connects."""
    run = subprocess.run(
        ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port), "-C", "1", "-W", "5",
         "-t", wire.access_topic(site)],
        capture_output=True,
    )  # fmt: skip
    return wire.parse_access_list(run.stdout.strip()) if run.stdout else None


def retained_version(broker: Mosquitto, site: str) -> int:
    access = retained_list(broker, site)
    return 0 if access is None else access.version


def hub_config(tmp_path: Path, broker: Mosquitto) -> HubConfig:
    return HubConfig.model_validate(
        {
            "state_dir": str(tmp_path / "hub"),
            "mqtt": {"port": broker.port},
            "http": {"port": free_port()},
            "sites_file": str(DEMO / "sites.yaml"),
            "api_tokens": {"department-token-0001": "department"},
        }
    )


@pytest.fixture
def hub(tmp_path: Path, broker: Mosquitto) -> Iterator[Hub]:
    service = Hub(hub_config(tmp_path, broker))
    service.start()
    yield service
    service.stop()


def test_the_hub_publishes_lists_at_start_and_after_a_shell_import(
    hub: Hub, broker: Mosquitto
) -> None:
    wait_until(lambda: hub.ingest.subscribed.is_set())
    with urllib.request.urlopen(f"{hub.url}/api/v1/health") as answer:
        assert json.load(answer) == {"status": "ok", "db": "ok", "mqtt": "ok", "quarantined": 0}
    wait_until(lambda: retained_version(broker, "murat") > 0)
    first = retained_version(broker, "murat")
    # What `telecentre-hub import-members` does in its own process: no broker connection.
    with hub.sessions.begin() as session:
        result = import_members(session, (DEMO / "members.csv").read_text())
        record_import(session, "cli:test", "members", result.access_changed)
    hub.tick()  # the minute job
    wait_until(lambda: retained_version(broker, "murat") > first)
    murat = retained_list(broker, "murat")
    assert murat is not None and len(murat.badges) == 9
    hub.tick()  # nothing imported since: no new version
    with hub.sessions() as session:
        versions = session.scalar(select(func.max(AccessListVersion.version)))
    assert versions == murat.version


def test_the_hub_signs_its_lists_with_a_key_it_made_for_itself(
    hub: Hub, broker: Mosquitto, tmp_path: Path
) -> None:
    key_file = tmp_path / "hub" / "access-list.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    wait_until(lambda: retained_list(broker, "murat") is not None)
    murat = retained_list(broker, "murat")
    assert murat is not None and murat.key_id == hub.signing_key.key_id
    trusted = TrustedKeys.from_texts([hub.signing_key.public_text])
    assert trusted.check(murat.model_dump(mode="json", exclude_none=True)) == murat.key_id


def test_the_hub_warns_of_a_door_behind_its_sites_latest_list(
    hub: Hub, caplog: pytest.LogCaptureFixture
) -> None:
    an_hour_ago = utcnow() - timedelta(hours=1)
    with hub.sessions.begin() as session:
        latest = session.scalar(
            select(func.max(AccessListVersion.version)).where(AccessListVersion.site_id == "murat")
        )
        assert latest is not None
        session.add(AccessListVersion(site_id="murat", version=latest + 10, issued=an_hour_ago))
        session.add(Device(id="murat-door", site="murat", state="online", access_version=latest))
    with caplog.at_level(logging.INFO, logger="hub.service"):
        assert hub.check_access_lists() == {"murat-door"}
        assert hub.check_access_lists() == {"murat-door"}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        f"door murat-door of site murat decides from access list {latest}, behind its site's "
        f"latest ({latest + 10}): check its link to the broker and its log (a refused list "
        "says why)"
    ]
    with hub.sessions.begin() as session:
        session.get_one(Device, "murat-door").access_version = latest + 10
    with caplog.at_level(logging.INFO, logger="hub.service"):
        assert hub.check_access_lists() == set()
    assert "door murat-door decides from its site's latest access list again" in caplog.text


def test_the_sites_file_loaded_at_start_is_audited(hub: Hub) -> None:
    with hub.sessions() as session:
        entries = session.execute(select(AuditEntry.actor, AuditEntry.detail)).all()
    imports = [(actor, detail) for actor, detail in entries if detail.get("kind") == "sites"]
    assert imports == [
        (
            f"hub:sites_file {DEMO / 'sites.yaml'}",
            {
                "kind": "sites",
                "sites": ["aurillac-a2ex", "mauriac", "murat"],
                "created": 3,
                "updated": 0,
            },
        )
    ]


DEMO_SITES = ("aurillac-a2ex", "mauriac", "murat")
#: A card given to Élodie (M0001, deploy/demo/members.csv) at the console.
NEW_CARD = "0FEDCBA987"


def lists_badge(broker: Mosquitto, site: str, badge: str) -> bool:
    access = retained_list(broker, site)
    return access is not None and badge in {entry.badge for entry in access.badges}


def with_demo_members(hub: Hub, broker: Mosquitto) -> None:
    """The demo's members imported and their lists at the broker, none still on the way."""
    wait_until(hub.ingest.subscribed.is_set, timeout=15)
    with hub.sessions.begin() as session:
        import_members(session, (DEMO / "members.csv").read_text())
    hub.publish_access_lists(None)
    for site in DEMO_SITES:
        wait_until(partial(lists_badge, broker, site, "0A1B2C3D"), timeout=30, message=site)


def give_card(hub: Hub) -> None:
    """What the console's "give this card" does: assign, commit, publish."""
    with hub.sessions.begin() as session:
        changed = assign_badge(session, uid=NEW_CARD, member_id="M0001", actor="user:test")
    hub.publish_access_lists(changed)


def test_giving_a_card_does_not_wait_for_a_paused_broker(hub: Hub, broker: Mosquitto) -> None:
    """A slow broker held the console's request up to 30 s per site; the publisher waits for
    it in its own thread, and the doors get the card once the broker is back."""
    with_demo_members(hub, broker)
    returned = threading.Event()

    def console_request() -> None:
        give_card(hub)
        returned.set()

    with broker.paused():
        threading.Thread(target=console_request, daemon=True).start()
        returned.wait(timeout=20)  # bounded well under the 30 s a list may be waited for
        assert returned.is_set(), "giving a card waited for the paused broker"
        assert not hub.access_lists.idle()  # its lists wait for the broker
    for site in DEMO_SITES:
        wait_until(partial(lists_badge, broker, site, NEW_CARD), timeout=60, message=site)
    wait_until(hub.access_lists.idle, timeout=30)


def test_lists_still_waiting_when_the_hub_stops_go_out_fresh_at_its_next_start(
    tmp_path: Path, broker: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    config = hub_config(tmp_path, broker)
    first = Hub(config)
    first.start()
    try:
        with_demo_members(first, broker)
        with broker.paused():
            give_card(first)  # one site's list waits for the broker, the others behind it
            first.access_lists.stop()
    finally:
        first.stop()
    # murat's list, the last handed over, was still waiting (the worker takes one at a time).
    [dropped] = [
        r.getMessage() for r in caplog.records if "before the hub stopped" in r.getMessage()
    ]
    assert dropped.startswith("access lists of ") and "murat)" in dropped
    assert not lists_badge(broker, "murat", NEW_CARD)
    second = Hub(config)
    second.start()
    try:
        wait_until(lambda: lists_badge(broker, "murat", NEW_CARD), timeout=60)
    finally:
        second.stop()
