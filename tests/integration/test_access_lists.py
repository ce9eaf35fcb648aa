"""Access lists built from the store, published retained and read back as an edge would."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import date, datetime

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from hub.access_lists import publish_access_lists
from hub.imports import import_members, import_sites
from hub.store.models import AccessListVersion, Badge, Member
from telecentre import wire
from tests.servers import Mosquitto
from tests.waiting import wait_until

SITES = """\
sites:
  - id: murat
    name: La Cocotte Numérique
    opening:
      tue: ["08:30-17:00"]
      mon: ["08:30-12:00", "13:30-17:00"]
    closed: ["2026-12-24", "2026-01-02"]
  - id: ydes
    name: Maison des Services
    timezone: Europe/Paris
    opening: {sat: ["09:00-12:00"]}
    open_on_public_holidays: true
"""
HEADER = "member_id,last_name,first_name,email,category,pass_since,pass_until,badges\n"
ANNE = "M001,Durand,Anne,,independent,,,04A2B3C4\n"
PAUL = "M002,Martin,Paul,,employee,,,0A1B2C3D;0A1B2C3E\n"
LEA = "M003,Roux,Léa,,mobile,2026-01-15,2027-06-30,0B1B2C3D\n"
OLD_PASS = "M004,Petit,Jean,,other,2025-01-01,2025-12-31,0C1B2C3D\n"
NEXT_PASS = "M005,Blanc,Marie,,mobile,2027-01-01,,0D1B2C3D\n"
OPEN_PASS = "M006,Noir,Luc,,mobile,2026-06-01,,0E1B2C3D\n"
NOW = datetime.fromisoformat("2026-11-23T08:00:00+01:00")


@pytest.fixture
def client(broker: Mosquitto) -> Iterator[mqtt.Client]:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="hub-access-test")
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    wait_until(client.is_connected, timeout=15, message="the test client never connected")
    yield client
    client.disconnect()
    client.loop_stop()


def retained(broker: Mosquitto, site: str) -> wire.AccessList | None:
    command = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port)]
    result = subprocess.run(
        [*command, "-t", wire.access_topic(site), "-C", "1", "-W", "5"],
        capture_output=True,
        timeout=30,
    )
    return wire.parse_access_list(result.stdout) if result.stdout.strip() else None


def read_version(broker: Mosquitto, site: str, version: int) -> wire.AccessList:
    """The retained list once it is `version` (a QoS 1 publication takes a moment)."""
    found: list[wire.AccessList] = []

    def arrived() -> bool:
        access = retained(broker, site)
        found[:] = [access] if access is not None else []
        return access is not None and access.version == version

    wait_until(arrived, timeout=30, message=f"{site} never got version {version}: {found}")
    return found[0]


def test_lists_follow_the_members_and_their_versions_increase(
    broker: Mosquitto, client: mqtt.Client, sessions: sessionmaker[Session]
) -> None:
    members = HEADER + ANNE + PAUL + LEA + OLD_PASS + NEXT_PASS + OPEN_PASS
    with sessions.begin() as session:
        changed = import_sites(session, SITES).access_changed
        changed |= import_members(session, members).access_changed
        published = publish_access_lists(session, client, changed, now=NOW)
    assert changed == {"murat", "ydes"}
    assert [a.version for a in published] == [1, 1]

    murat = read_version(broker, "murat", 1)
    assert murat.site == "murat" and murat.issued == NOW
    assert murat.timezone == "Europe/Paris"
    assert murat.opening == {"mon": ["08:30-12:00", "13:30-17:00"], "tue": ["08:30-17:00"]}
    assert {(e.badge, e.hours, e.until) for e in murat.badges} == {
        ("04A2B3C4", "opening", None),
        ("0A1B2C3D", "opening", None),
        ("0A1B2C3E", "opening", None),
        ("0B1B2C3D", "always", date(2027, 6, 30)),
        ("0C1B2C3D", "opening", None),  # Pass ended
        ("0D1B2C3D", "opening", None),  # Pass not started yet
        ("0E1B2C3D", "always", None),  # Pass with no end date
    }
    assert date(2026, 12, 24) in murat.closed  # the site's own
    assert {date(2026, 12, 25), date(2027, 1, 1), date(2027, 12, 25)} <= set(murat.closed)
    assert date(2026, 11, 11) not in murat.closed and date(2026, 1, 2) not in murat.closed
    assert murat.closed == sorted(murat.closed)
    assert read_version(broker, "ydes", 1).closed == []  # open on public holidays

    # Paul's second badge is lost, Anne leaves the network (her data erased).
    with sessions.begin() as session:
        result = import_members(session, HEADER + PAUL.replace(";0A1B2C3E", "") + LEA)
        session.execute(delete(Badge).where(Badge.member_id == "M001"))
        session.execute(delete(Member).where(Member.id == "M001"))
        publish_access_lists(session, client, result.access_changed, now=NOW)
    assert result.access_changed == {"murat", "ydes"}
    badges = {entry.badge for entry in read_version(broker, "murat", 2).badges}
    assert badges == {"0A1B2C3D", "0B1B2C3D", "0C1B2C3D", "0D1B2C3D", "0E1B2C3D"}

    with sessions() as session:
        versions = session.execute(
            select(AccessListVersion.site_id, AccessListVersion.version).order_by(
                AccessListVersion.site_id, AccessListVersion.version
            )
        ).all()
    assert [tuple(v) for v in versions] == [("murat", 1), ("murat", 2), ("ydes", 1), ("ydes", 2)]


def test_a_list_is_published_only_if_its_version_is_committed(
    broker: Mosquitto, client: mqtt.Client, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        import_sites(session, SITES)
        import_members(session, HEADER + ANNE)
        publish_access_lists(session, client, {"murat"}, now=NOW)
    read_version(broker, "murat", 1)

    with pytest.raises(RuntimeError), sessions.begin() as session:
        import_members(session, HEADER + ANNE + PAUL)
        publish_access_lists(session, client, {"murat"}, now=NOW)
        raise RuntimeError("the import failed after the lists were built")
    with sessions.begin() as session:
        publish_access_lists(session, client, {"ydes"}, now=NOW)
    # One connection delivers in order: once ydes's list is there, a list for murat published
    # before it would be there too.
    read_version(broker, "ydes", 1)
    murat = retained(broker, "murat")
    assert murat is not None and murat.version == 1
    assert [e.badge for e in murat.badges] == ["04A2B3C4"]

    with sessions.begin() as session:
        [again] = publish_access_lists(session, client, {"murat"}, now=NOW)
    assert again.version == 2  # the rolled-back version 2 was never taken
