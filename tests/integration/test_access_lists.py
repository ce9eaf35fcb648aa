"""Access lists built from the store, published retained and read back as an edge would."""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from contextlib import closing
from datetime import date, datetime

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import delete, event, select, text
from sqlalchemy.orm import Session, sessionmaker

from hub.doors.access_lists import next_access_lists
from hub.doors.publisher import AccessListPublisher, publish_access_lists
from hub.people.imports import import_members, import_sites
from hub.store.models import AccessListVersion, Badge, Member
from telecentre import wire
from tests.keys import HUB_KEY, TRUSTED
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
NOW_MS = int(NOW.timestamp() * 1000)


@pytest.fixture
def client(broker: Mosquitto) -> Iterator[mqtt.Client]:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="hub-access-test")
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    wait_until(client.is_connected, timeout=15, message="the test client never connected")
    yield client
    client.disconnect()
    client.loop_stop()


@pytest.fixture
def publisher(client: mqtt.Client) -> Iterator[AccessListPublisher]:
    """The hub's access list publisher on `client`, signing with the test hub key."""
    worker = AccessListPublisher(client, HUB_KEY)
    worker.start()
    yield worker
    worker.stop()


def retained(broker: Mosquitto, site: str) -> wire.AccessList | None:
    command = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port)]
    result = subprocess.run(
        [*command, "-t", wire.access_topic(site), "-C", "1", "-W", "5"],
        capture_output=True,
        timeout=30,
    )
    if not result.stdout.strip():
        return None
    TRUSTED.check(wire.access_list_data(result.stdout))  # signed by the hub, as edges check
    return wire.parse_access_list(result.stdout)


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
    broker: Mosquitto, publisher: AccessListPublisher, sessions: sessionmaker[Session]
) -> None:
    members = HEADER + ANNE + PAUL + LEA + OLD_PASS + NEXT_PASS + OPEN_PASS
    with sessions.begin() as session:
        changed = import_sites(session, SITES).access_changed
        changed |= import_members(session, members).access_changed
        published = publish_access_lists(session, publisher, changed, now=NOW)
    assert changed == {"murat", "ydes"}
    # Versions are the issue time in ms: a restored or new database cannot go back below them.
    assert [a.version for a in published] == [NOW_MS, NOW_MS]

    murat = read_version(broker, "murat", NOW_MS)
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
    assert read_version(broker, "ydes", NOW_MS).closed == []  # open on public holidays

    # Paul's second badge is lost, Anne leaves the network (her data erased).
    with sessions.begin() as session:
        result = import_members(session, HEADER + PAUL.replace(";0A1B2C3E", "") + LEA)
        session.execute(delete(Badge).where(Badge.member_id == "M001"))
        session.execute(delete(Member).where(Member.id == "M001"))
        publish_access_lists(session, publisher, result.access_changed, now=NOW)
    assert result.access_changed == {"murat", "ydes"}
    # Issued at the same millisecond (or a hub clock set back): one more than the last.
    badges = {entry.badge for entry in read_version(broker, "murat", NOW_MS + 1).badges}
    assert badges == {"0A1B2C3D", "0B1B2C3D", "0C1B2C3D", "0D1B2C3D", "0E1B2C3D"}

    with sessions() as session:
        versions = session.execute(
            select(AccessListVersion.site_id, AccessListVersion.version).order_by(
                AccessListVersion.site_id, AccessListVersion.version
            )
        ).all()
    assert [tuple(v) for v in versions] == [
        ("murat", NOW_MS),
        ("murat", NOW_MS + 1),
        ("ydes", NOW_MS),
        ("ydes", NOW_MS + 1),
    ]


def test_a_list_is_published_only_if_its_version_is_committed(
    broker: Mosquitto, publisher: AccessListPublisher, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        import_sites(session, SITES)
        import_members(session, HEADER + ANNE)
        publish_access_lists(session, publisher, {"murat"}, now=NOW)
    read_version(broker, "murat", NOW_MS)

    with pytest.raises(RuntimeError), sessions.begin() as session:
        import_members(session, HEADER + ANNE + PAUL)
        publish_access_lists(session, publisher, {"murat"}, now=NOW)
        raise RuntimeError("the import failed after the lists were built")
    with sessions.begin() as session:
        publish_access_lists(session, publisher, {"ydes"}, now=NOW)
    # One connection delivers in order: once ydes's list is there, a list for murat published
    # before it would be there too.
    read_version(broker, "ydes", NOW_MS)
    murat = retained(broker, "murat")
    assert murat is not None and murat.version == NOW_MS
    assert [e.badge for e in murat.badges] == ["04A2B3C4"]

    with sessions.begin() as session:
        [again] = publish_access_lists(session, publisher, {"murat"}, now=NOW)
    assert again.version == NOW_MS + 1  # the rolled-back version was never taken


def test_a_restored_database_still_numbers_its_lists_above_what_the_doors_hold(
    broker: Mosquitto, publisher: AccessListPublisher, sessions: sessionmaker[Session]
) -> None:
    """A backup from last week (or a new database): its lists must not start again below
    the versions the doors hold, or every door would ignore them."""
    with sessions.begin() as session:
        import_sites(session, SITES)
        import_members(session, HEADER + ANNE)
        [held] = publish_access_lists(session, publisher, {"murat"}, now=NOW)
    with sessions.begin() as session:  # the restore: the database forgets that list
        session.execute(delete(AccessListVersion))
    later = datetime.fromisoformat("2026-11-23T08:00:01+01:00")
    with sessions.begin() as session:
        [fresh] = publish_access_lists(session, publisher, {"murat"}, now=later)
    assert fresh.version > held.version
    read_version(broker, "murat", fresh.version)


def test_a_list_too_big_for_the_protocol_is_not_published(
    broker: Mosquitto,
    publisher: AccessListPublisher,
    sessions: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The broker would cut the hub's connection over it, again at every reconnection."""
    with sessions.begin() as session:
        import_sites(session, SITES)
        import_members(session, HEADER + ANNE)
        publish_access_lists(session, publisher, {"murat"}, now=NOW)
    read_version(broker, "murat", NOW_MS)
    monkeypatch.setattr(wire, "MAX_ACCESS_LIST_BYTES", 100)
    with sessions.begin() as session:
        [big] = publish_access_lists(session, publisher, {"murat"}, now=NOW)
    refused = f"access list murat v{big.version} NOT published"
    wait_until(lambda: refused in caplog.text, timeout=30, message="the list was not refused")
    monkeypatch.undo()
    with sessions.begin() as session:
        [small] = publish_access_lists(session, publisher, {"ydes"}, now=NOW)
    read_version(broker, "ydes", small.version)
    murat = retained(broker, "murat")
    assert murat is not None and murat.version == NOW_MS
    assert publisher.client.is_connected()


def test_each_site_lists_its_own_local_day_when_the_network_spans_time_zones(
    broker: Mosquitto, publisher: AccessListPublisher, sessions: sessionmaker[Session]
) -> None:
    """The badges are read once for every site and written once per local day: a site
    already in tomorrow (Nouméa, UTC+11) lists a Pass starting tomorrow as "always", while
    the Cantal's sites, still today, list it as "opening"; each list is still its own site's,
    signed for it."""
    sites = SITES + (
        "  - id: noumea\n    name: Télécentre de Nouméa\n    timezone: Pacific/Noumea\n"
        "    opening: {mon: ['08:00-16:00']}\n"
    )
    now = datetime.fromisoformat("2026-11-23T14:00:00+00:00")  # 01:00 on the 24th in Nouméa
    starts_tomorrow = "M007,Kanak,Eva,,mobile,2026-11-24,,0F1B2C3D\n"
    with sessions.begin() as session:
        import_sites(session, sites)
        import_members(session, HEADER + ANNE + LEA + starts_tomorrow)
        published = publish_access_lists(session, publisher, now=now)
    assert [access.site for access in published] == ["murat", "noumea", "ydes"]
    version = int(now.timestamp() * 1000)
    lists = {site: read_version(broker, site, version) for site in ("murat", "noumea", "ydes")}
    hours = {
        site: {entry.badge: entry.hours for entry in access.badges}
        for site, access in lists.items()
    }
    assert hours["noumea"] == {"04A2B3C4": "opening", "0B1B2C3D": "always", "0F1B2C3D": "always"}
    assert hours["murat"] == hours["ydes"] == hours["noumea"] | {"0F1B2C3D": "opening"}
    assert lists["noumea"].issued.date() == date(2026, 11, 24)
    assert lists["noumea"].opening == {"mon": ["08:00-16:00"]}
    assert lists["murat"].issued.date() == date(2026, 11, 23)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_member_and_their_badge_committed_during_a_build_are_on_its_lists(
    sessions: sessionmaker[Session],
) -> None:
    """On PostgreSQL (READ COMMITTED) each statement sees what committed before it: a member
    and their badge committed by someone else just before the build reads the badges are
    both on the lists (read apart, the badge came without its holder and the build failed)."""
    with sessions.begin() as session:
        import_sites(session, SITES)
        import_members(session, HEADER + ANNE)
    newcomer: list[str] = []

    def commit_newcomer(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if "badges" in statement and not newcomer:
            newcomer.append(statement)
            with sessions.begin() as other:
                other.execute(text("SET LOCAL lock_timeout = '10s'"))  # a bug must not hang
                import_members(other, HEADER + LEA)

    engine = sessions.kw["bind"]
    with sessions.begin() as session:
        session.execute(select(Member.id)).all()  # the build's transaction has begun
        event.listen(engine, "before_cursor_execute", commit_newcomer)
        try:
            lists = next_access_lists(session, {"murat", "ydes"}, now=NOW)
        finally:
            event.remove(engine, "before_cursor_execute", commit_newcomer)
    assert newcomer, "the build never read the badges"
    for access, _ in lists:
        assert {(e.badge, e.hours) for e in access.badges} == {
            ("04A2B3C4", "opening"),
            ("0B1B2C3D", "always"),
        }


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_badge_whose_member_is_missing_is_left_out_and_said(
    sessions: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    """The foreign key forbids it, but a store that lost a member row (a restore gone wrong,
    a hand edit) must not stop every door's list."""
    with sessions.begin() as session:
        import_sites(session, SITES)
        import_members(session, HEADER + ANNE)
    database = sessions.kw["bind"].url.database
    with closing(sqlite3.connect(database)) as raw:  # foreign keys off, as a hand edit would be
        raw.execute(
            "INSERT INTO badges (uid, member_id, active, updated_at) "
            "VALUES ('0F0F0F0F', 'M404', 1, '2026-11-23 07:00:00')"
        )
        raw.commit()
    with sessions.begin() as session:
        [(murat, _)] = next_access_lists(session, {"murat"}, now=NOW)
    assert [e.badge for e in murat.badges] == ["04A2B3C4"]
    assert "badge 0F0F0F0F left out of the access lists: no member M404" in caplog.text


def test_a_paused_broker_holds_up_no_commit_and_the_newest_list_reaches_the_doors(
    broker: Mosquitto, publisher: AccessListPublisher, sessions: sessionmaker[Session]
) -> None:
    """Whoever commits (a console request, an import, the minute job) hands the lists over
    and goes on; the publisher waits for the broker. A list still waiting when a newer one
    of its site comes is dropped: a door keeps only the newest."""
    seen: list[int] = []  # the versions murat's door receives, in order
    door = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="murat-door-test")
    door.on_message = lambda _c, _u, m: seen.append(
        wire.parse_access_list(bytes(m.payload)).version
    )
    door.connect("127.0.0.1", broker.port)
    door.loop_start()
    try:
        wait_until(door.is_connected, timeout=15, message="the door never connected")
        door.subscribe(wire.access_topic("murat"), qos=1)
        with sessions.begin() as session:
            import_sites(session, SITES)
            import_members(session, HEADER + ANNE)
            publish_access_lists(session, publisher, {"murat"}, now=NOW)
        wait_until(lambda: seen == [NOW_MS], timeout=30, message=f"first list: {seen}")

        returned = threading.Event()

        def give_cards() -> None:
            for member in (PAUL, LEA, OPEN_PASS):  # three commits, each with its new list
                with sessions.begin() as session:
                    import_members(session, HEADER + member)
                    publish_access_lists(session, publisher, {"murat"}, now=NOW)
            returned.set()

        with broker.paused():
            threading.Thread(target=give_cards, daemon=True).start()
            # Bounded well under the 30 s the first list's acknowledgement may be waited for.
            returned.wait(timeout=20)
            assert returned.is_set(), "a commit waited for the paused broker"

        last = NOW_MS + 3
        wait_until(lambda: last in seen, timeout=30, message=f"the newest list never came: {seen}")
        after = seen[1:]
        assert after == sorted(after) and set(after) <= {NOW_MS + 1, NOW_MS + 2, last}
        assert after[-1] == last and len(after) <= 2  # one in flight at most, then the newest
    finally:
        door.disconnect()
        door.loop_stop()
    badges = {entry.badge for entry in read_version(broker, "murat", last).badges}
    assert badges == {"04A2B3C4", "0A1B2C3D", "0A1B2C3E", "0B1B2C3D", "0E1B2C3D"}


def test_a_list_handed_over_after_a_newer_one_of_its_site_is_dropped(
    broker: Mosquitto,
    publisher: AccessListPublisher,
    sessions: sessionmaker[Session],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Two commits whose after-commit actions ran in the other order: the broker must keep
    the newer list, which an older one published after it would replace."""
    caplog.set_level(logging.INFO, logger="hub.doors.publisher")
    with sessions.begin() as session:
        import_sites(session, SITES)
        import_members(session, HEADER + ANNE)
        older = next_access_lists(session, {"murat"}, now=NOW)
    with sessions.begin() as session:
        import_members(session, HEADER + PAUL)
        newer = next_access_lists(session, {"murat"}, now=NOW)
    with sessions.begin() as session:
        ydes = next_access_lists(session, {"ydes"}, now=NOW)
    publisher.put(newer)
    publisher.put(older)
    publisher.put(ydes)
    read_version(broker, "ydes", NOW_MS)  # one line, one connection: murat's went before
    murat = retained(broker, "murat")
    assert murat is not None and murat.version == NOW_MS + 1
    assert "0A1B2C3D" in {entry.badge for entry in murat.badges}
    assert f"access list murat v{NOW_MS} dropped: a newer one was handed over" in caplog.text
