"""The hub service as `telecentre-hub` runs it (hub/service.py), on a real broker: what it
publishes at start, and how it picks up imports made from a shell."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from hub.access_lists import record_import
from hub.config import HubConfig
from hub.imports import import_members
from hub.service import Hub
from hub.store.models import AccessListVersion
from telecentre import wire
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


@pytest.fixture
def hub(tmp_path: Path, broker: Mosquitto) -> Iterator[Hub]:
    config = HubConfig.model_validate(
        {
            "state_dir": str(tmp_path / "hub"),
            "mqtt": {"port": broker.port},
            "http": {"port": free_port()},
            "sites_file": str(DEMO / "sites.yaml"),
            "api_tokens": {"department-token-0001": "department"},
        }
    )
    service = Hub(config)
    service.start()
    yield service
    service.stop()


def test_the_hub_publishes_lists_at_start_and_after_a_shell_import(
    hub: Hub, broker: Mosquitto
) -> None:
    wait_until(lambda: hub.ingest.subscribed.is_set())
    with urllib.request.urlopen(f"{hub.url}/api/v1/health") as answer:
        assert json.load(answer) == {"status": "ok", "db": "ok", "mqtt": "ok", "quarantined": 0}
    wait_until(lambda: retained_version(broker, "murat") == 1)
    # What `telecentre-hub import-members` does in its own process: no broker connection.
    with hub.sessions.begin() as session:
        result = import_members(session, (DEMO / "members.csv").read_text())
        record_import(session, "cli:test", "members", result.access_changed)
    hub.tick()  # the minute job
    wait_until(lambda: retained_version(broker, "murat") == 2)
    murat = retained_list(broker, "murat")
    assert murat is not None and len(murat.badges) == 9
    hub.tick()  # nothing imported since: no new version
    with hub.sessions() as session:
        versions = session.scalar(select(func.max(AccessListVersion.version)))
    assert versions == 2
