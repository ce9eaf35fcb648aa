"""The presence engine and the occupancy display on both databases and a real broker.

Every time is a fixed Paris wall-clock time in November 2026 (UTC+01:00) and the engine's
clock is fixed too, so nothing depends on when the tests run.
"""

from __future__ import annotations

import random
import subprocess
import uuid
from datetime import datetime
from typing import Any, cast

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from hub.config import Mqtt
from hub.intake.ingest import Ingest, ingest_lines
from hub.intake.occupancy import OccupancyPublisher
from hub.people.imports import import_members, import_sites
from hub.people.sites import load_sites
from hub.presence.engine import Presence, Present, occupancy
from hub.rules.model import Direction, SiteRules, Tap, weekly_opening
from hub.rules.model import Session as Stay
from hub.rules.presence import sessions_from_taps
from hub.store.models import Event, PresenceSession
from telecentre import wire
from tests.servers import Mosquitto
from tests.waiting import wait_until

OPENING = {
    "mon": ["08:30-12:00", "13:30-17:00"],
    "tue": ["08:30-17:00"],
    "wed": ["08:30-17:00"],
    "thu": ["08:30-17:00"],
    "fri": ["08:30-16:00"],
}
SITES = f"""\
sites:
  - id: murat
    name: La Cocotte Numérique
    spaces:
      - {{id: bureaux, kind: office, positions: 3}}
      - {{id: plateau, kind: open_space, positions: 6}}
      - {{id: reunion, kind: meeting, positions: 0}}
    opening: {OPENING}
    closed: ["2026-12-24"]
  - id: ydes
    name: Maison des Services
    spaces: [{{id: bureau, kind: office, positions: 1}}]
    opening: {{tue: ["09:00-12:00"]}}
"""
MEMBERS = (
    "member_id,last_name,first_name,email,category,pass_since,pass_until,badges\n"
    "M001,Durand,Anne,,independent,,,04A2B3C4\n"
    "M002,Martin,Paul,,employee,,,0A1B2C3D\n"
    "M003,Roux,Léa,,mobile,2026-01-15,2027-06-30,0B1B2C3D\n"
)
DIRECTIONS: list[Direction] = ["in", "out", "toggle", "toggle"]
BADGE = {"M001": "04A2B3C4", "M002": "0A1B2C3D", "M003": "0B1B2C3D"}
# The rules' own view of murat, written out here so that the site adapter is checked too.
MURAT = SiteRules("murat", opening=weekly_opening(OPENING), closed=frozenset())


def at(when: str) -> datetime:
    """ "2026-11-17 09:00" in Paris (2026-11-17 is a Tuesday; November is UTC+01:00)."""
    return datetime.fromisoformat(f"{when}+01:00")


def tap(
    member: str,
    when: str,
    direction: Direction = "toggle",
    *,
    access: str = "granted",
    site: str = "murat",
    badge: str | None = None,
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "v": 1,
        "id": str(uuid.uuid4()),
        "type": "badge",
        "site": site,
        "device": f"{site}-door",
        "seq": 0,
        "ts": at(when).isoformat(),
        "clock_synced": True,
        "badge": badge or BADGE[member],
        "reader": "entrance",
        "direction": direction,
        "access": access,
    }
    return event | ({"reason": "outside_hours"} if access == "denied" else {})


def line(event: dict[str, Any]) -> str:
    return wire.encode(event).decode()


Row = tuple[str, datetime, datetime | None, bool, str | None, str | None]


def stored(sessions: sessionmaker[Session], member: str) -> list[Row]:
    with sessions() as session:
        rows = session.scalars(
            select(PresenceSession)
            .where(PresenceSession.member_id == member)
            .order_by(PresenceSession.start)
        )
        return [
            (r.site_id, r.start, r.end, r.auto_closed, r.start_event_id, r.end_event_id)
            for r in rows
        ]


def stays(sessions: sessionmaker[Session], member: str) -> list[Stay]:
    return [
        Stay(member, site, start, end, auto)
        for site, start, end, auto, _, _ in stored(sessions, member)
    ]


def full_recompute(sessions: sessionmaker[Session], member: str, now: datetime) -> list[Stay]:
    """What the rules make of every counted tap of the member at murat, in one go."""
    with sessions() as session:
        rows = session.execute(
            select(Event.id, Event.ts, Event.direction).where(
                Event.member_id == member,
                Event.site == "murat",
                Event.type == "badge",
                Event.access == "granted",
            )
        ).all()
    taps = [Tap(id_, member, "murat", ts, cast(Direction, way)) for id_, ts, way in rows]
    return sessions_from_taps(taps, MURAT, now=now)


@pytest.fixture
def sessions(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """The migrated store of conftest's `sessions`, with this file's sites and members."""
    with sessions.begin() as session:
        import_sites(session, SITES)
        import_members(session, MEMBERS)
    return sessions


def ingest(
    sessions: sessionmaker[Session], presence: Presence, events: list[dict[str, Any]]
) -> None:
    """One JSON Lines import, in small batches so that one file makes several hook calls."""
    with sessions.begin() as session:
        result = ingest_lines(
            session,
            [line(e) for e in events],
            on_batch=[presence.apply],
            batch_size=2,
            plan_every=2,
        )
    assert not result.rejected


def test_the_sites_adapter_gives_the_rules_what_the_sites_file_says(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        murat = load_sites(session)["murat"]
    assert murat.opening == MURAT.opening
    assert (murat.positions.office, murat.positions.open_space) == (3, 6)
    assert murat.closed == {datetime(2026, 12, 24).date()}
    assert murat.timezone == "Europe/Paris"


def test_counted_taps_become_sessions(sessions: sessionmaker[Session]) -> None:
    presence = Presence(clock=lambda: at("2026-11-19 12:00"))
    m1 = [
        tap("M001", "2026-11-17 09:00:00"),
        tap("M001", "2026-11-17 09:00:30"),  # the reader saw the gesture twice: debounced
        tap("M001", "2026-11-17 11:00:00"),
        tap("M001", "2026-11-17 13:00:00", "in"),
        tap("M001", "2026-11-17 13:30:00", "in"),  # already in: ignored
    ]
    m2 = [
        tap("M002", "2026-11-17 09:00", access="denied"),  # denied: never counted
        tap("M002", "2026-11-17 09:05", site="nowhere"),  # site not imported: skipped
        tap("M002", "2026-11-19 10:00", "out"),  # nothing open: ignored
        tap("M002", "2026-11-19 10:05", "in"),
        tap("M002", "2026-11-19 10:06", badge="0BADCAFE"),  # nobody's badge
    ]
    ingest(sessions, presence, [*m1, *m2])

    assert stored(sessions, "M001") == [
        ("murat", at("2026-11-17 09:00"), at("2026-11-17 11:00"), False, m1[0]["id"], m1[2]["id"]),
        ("murat", at("2026-11-17 13:00"), at("2026-11-17 17:00"), True, m1[3]["id"], None),
    ]
    assert stored(sessions, "M002") == [
        ("murat", at("2026-11-19 10:05"), None, False, m2[3]["id"], None)
    ]
    with sessions() as session:
        murat = load_sites(session)["murat"]
        assert occupancy(session, murat, at("2026-11-19 12:00")) == [
            Present("M002", at("2026-11-19 10:05"))
        ]
        # Past the auto-close moment nobody is counted, even before the job has run.
        assert occupancy(session, murat, at("2026-11-19 17:00")) == []

    with sessions.begin() as session:
        assert presence.close_expired(session) == set()  # 12:00: not yet
    closing = Presence(clock=lambda: at("2026-11-19 18:00"))
    with sessions.begin() as session:
        assert closing.close_expired(session) == {"murat"}
    assert stored(sessions, "M002")[0][2:4] == (at("2026-11-19 17:00"), True)


def test_late_taps_give_the_sessions_of_a_full_recompute(sessions: sessionmaker[Session]) -> None:
    now = at("2026-11-21 12:00")
    presence = Presence(clock=lambda: now)
    chance = random.Random(20261117)
    events: list[dict[str, Any]] = []
    for day in ("2026-11-17", "2026-11-18", "2026-11-19"):
        for member in ("M001", "M002"):
            for _ in range(8):
                minute = chance.randrange(8 * 60, 19 * 60)
                second = chance.randrange(60)
                direction = chance.choice(DIRECTIONS)
                when = f"{day} {minute // 60:02}:{minute % 60:02}:{second:02}"
                events.append(tap(member, when, direction))
                if chance.random() < 0.2:  # a second gesture within the debounce
                    events.append(tap(member, f"{day} {minute // 60:02}:{minute % 60:02}:59"))
    chance.shuffle(events)
    for start in range(0, len(events), 7):  # batches arriving in any order, each committed
        ingest(sessions, presence, events[start : start + 7])

    for member in ("M001", "M002"):
        assert stays(sessions, member) == full_recompute(sessions, member, now)
        assert len(stays(sessions, member)) >= 3

    before = stored(sessions, "M001")
    with sessions() as session:
        ids = dict(
            session.execute(
                select(PresenceSession.start, PresenceSession.id).where(
                    PresenceSession.member_id == "M001"
                )
            ).all()
        )
    ingest(sessions, presence, events)  # every event again: all duplicates
    assert stored(sessions, "M001") == before

    late = tap("M001", "2026-11-19 18:30", "in")  # after closing: a max_session_h session
    ingest(sessions, presence, [late])
    assert stays(sessions, "M001") == full_recompute(sessions, "M001", now)
    with sessions() as session:
        after = dict(
            session.execute(
                select(PresenceSession.start, PresenceSession.id).where(
                    PresenceSession.member_id == "M001"
                )
            ).all()
        )
    untouched = {start for start in ids if start < at("2026-11-19 00:00")}
    assert untouched, "the earlier days had sessions"
    assert {s: after[s] for s in untouched} == {s: ids[s] for s in untouched}


def test_a_late_tap_that_changes_nothing_rewrites_no_row(sessions: sessionmaker[Session]) -> None:
    presence = Presence(clock=lambda: at("2026-11-19 12:00"))
    ingest(sessions, presence, [tap("M001", "2026-11-17 09:00"), tap("M001", "2026-11-17 11:00")])
    with sessions() as session:
        before = session.scalars(select(PresenceSession.id)).all()

    ingest(sessions, presence, [tap("M001", "2026-11-17 09:00:30")])  # debounced: no effect
    with sessions() as session:
        assert session.scalars(select(PresenceSession.id)).all() == before
    assert [row[1:4] for row in stored(sessions, "M001")] == [
        (at("2026-11-17 09:00"), at("2026-11-17 11:00"), False)
    ]


def test_a_site_imported_after_its_taps_gets_their_sessions(
    sessions: sessionmaker[Session],
) -> None:
    presence = Presence(clock=lambda: at("2026-11-19 12:00"))
    early = [
        tap("M001", "2026-11-17 09:00", site="riom"),
        tap("M001", "2026-11-17 10:00", site="riom"),
    ]
    ingest(sessions, presence, early)
    assert stored(sessions, "M001") == []
    with sessions.begin() as session:
        import_sites(session, "sites: [{id: riom, name: Riom, opening: {tue: ['09:00-17:00']}}]")
        presence.replay_sites(session, {"riom"})
    made = [("riom", at("2026-11-17 09:00"), at("2026-11-17 10:00"), False)]
    assert [row[:4] for row in stored(sessions, "M001")] == made

    # Retention strips old taps of their member; the sessions they made must stay.
    with sessions.begin() as session:
        session.execute(update(Event).values(member_id=None))
        presence.replay_sites(session, {"riom", "murat"})
    assert [row[:4] for row in stored(sessions, "M001")] == made


def test_a_site_imported_after_its_taps_checks_them_as_live_ingest_does(
    sessions: sessionmaker[Session],
) -> None:
    """A Pi booted in 1970 and one stamped 2999, before their site was imported: the
    replay of the site quarantines them as the live ingest would have, and counts the rest."""
    presence = Presence(clock=lambda: at("2026-11-19 12:00"))
    early = [
        tap("M001", "2026-11-17 09:00", site="riom"),
        tap("M001", "2026-11-17 10:00", site="riom"),
        tap("M001", "2026-11-17 11:00", site="riom") | {"ts": "1970-01-01T00:00:12+00:00"},
        tap("M001", "2026-11-17 12:00", site="riom") | {"ts": "2999-01-01T09:00:00+00:00"},
    ]
    ingest(sessions, presence, early)
    with sessions.begin() as session:
        import_sites(session, "sites: [{id: riom, name: Riom, opening: {tue: ['09:00-17:00']}}]")
        presence.replay_sites(session, {"riom"})
    made = [("riom", at("2026-11-17 09:00"), at("2026-11-17 10:00"), False)]
    assert [row[:4] for row in stored(sessions, "M001")] == made
    with sessions() as session:
        outcomes = {
            row.id: (row.outcome, row.outcome_reason) for row in session.scalars(select(Event))
        }
    assert [outcomes[event["id"]] for event in early] == [
        ("counted", None),
        ("counted", None),
        ("quarantined", "too_old"),
        ("quarantined", "future"),
    ]


class RecordingClient(mqtt.Client):
    """Records what would be published, and whether the store held it at that moment."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        super().__init__(CallbackAPIVersion.VERSION2)
        self.sessions = sessions
        self.sent: list[tuple[str, wire.Occupancy, int]] = []

    def publish(
        self,
        topic: str,
        payload: mqtt.PayloadType = None,
        qos: int = 0,
        retain: bool = False,
        properties: Properties | None = None,
    ) -> mqtt.MQTTMessageInfo:
        assert retain and qos == wire.QOS_OCCUPANCY
        assert isinstance(payload, bytes)
        with self.sessions() as session:
            committed = session.scalar(select(func.count()).select_from(PresenceSession)) or 0
        self.sent.append((topic, wire.Occupancy.model_validate_json(payload), committed))
        info = mqtt.MQTTMessageInfo(len(self.sent))
        info.rc = mqtt.MQTT_ERR_SUCCESS
        return info


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_occupancy_is_published_after_the_commit_and_only_when_it_changes(
    sessions: sessionmaker[Session],
) -> None:
    def clock() -> datetime:
        return at("2026-11-17 12:00")

    presence = Presence(clock=clock)
    client = RecordingClient(sessions)
    changes: list[tuple[str, int, int, datetime]] = []

    def record(site: str, present: int, positions: int, when: datetime) -> None:
        changes.append((site, present, positions, when))

    board = OccupancyPublisher(client, clock=clock, on_change=record)
    events = [line(tap("M001", "2026-11-17 09:00")), line(tap("M002", "2026-11-17 09:30"))]

    with pytest.raises(RuntimeError), sessions.begin() as session:
        ingest_lines(session, events, on_batch=[presence.apply, board.on_batch])
        raise RuntimeError("the import failed after the hooks")
    assert client.sent == [] and changes == []

    with sessions.begin() as session:
        ingest_lines(session, events, on_batch=[presence.apply, board.on_batch])
    [(topic, payload, committed)] = client.sent
    assert topic == wire.occupancy_topic("murat")
    assert (payload.site, payload.present, payload.positions) == ("murat", 2, 9)
    assert committed == 2, "published before the sessions were committed"
    assert changes == [("murat", 2, 9, clock())]

    with sessions.begin() as session:
        board.refresh(session)  # murat unchanged; ydes never sent
    assert [(t, p.present, p.positions) for t, p, _ in client.sent[1:]] == [
        (wire.occupancy_topic("ydes"), 0, 1)
    ]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_site_a_member_left_for_another_is_published_at_once(
    sessions: sessionmaker[Session],
) -> None:
    """One place at a time: a tap at Ydes ends the session open at Murat, and the board of
    Murat hears it in the same batch, not at the next minute's refresh."""
    presence = Presence(clock=lambda: at("2026-11-17 10:30"))
    client = RecordingClient(sessions)
    board = OccupancyPublisher(client, clock=lambda: at("2026-11-17 10:30"))
    with sessions.begin() as session:
        ingest_lines(
            session, [line(tap("M001", "2026-11-17 09:00", "in"))], [presence.apply, board.on_batch]
        )
    with sessions.begin() as session:
        ingest_lines(
            session,
            [line(tap("M001", "2026-11-17 10:00", "in", site="ydes"))],
            [presence.apply, board.on_batch],
        )
    assert sorted((t, p.present) for t, p, _ in client.sent[1:]) == [
        (wire.occupancy_topic("murat"), 0),
        (wire.occupancy_topic("ydes"), 1),
    ]


def read_retained(broker: Mosquitto, topic: str) -> bytes:
    """The retained message of `topic`, as a display would read it."""
    command = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port), "-t", topic]
    result = subprocess.run([*command, "-C", "1", "-W", "10"], capture_output=True, timeout=30)
    return result.stdout.strip()


def publish(broker: Mosquitto, events: list[dict[str, Any]]) -> None:
    command = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-q", "1"]
    subprocess.run(
        [*command, "-t", wire.events_topic("murat", "murat-door"), "-l"],
        input="".join(line(e) + "\n" for e in events),
        text=True,
        check=True,
        timeout=60,
    )


def test_live_taps_update_the_retained_occupancy(
    broker: Mosquitto, sessions: sessionmaker[Session]
) -> None:
    def clock() -> datetime:
        return at("2026-11-19 12:00")

    presence = Presence(clock=clock)
    ingest_ = Ingest(Mqtt(port=broker.port, client_id="hub-test"), sessions)
    board = OccupancyPublisher(ingest_.client, clock=clock)
    ingest_.on_batch[:] = [presence.apply, board.on_batch]
    topic = wire.occupancy_topic("murat")

    def present() -> int | None:
        payload = read_retained(broker, topic)
        return wire.Occupancy.model_validate_json(payload).present if payload else None

    ingest_.start()
    try:
        assert ingest_.subscribed.wait(15), "the hub never subscribed"
        publish(broker, [tap(m, f"2026-11-19 09:0{i}") for i, m in enumerate(BADGE)])
        wait_until(lambda: present() == 3, timeout=30, message="never showed 3 present")
        # Only a leaving member can bring the count back down from 3.
        publish(broker, [tap("M003", "2026-11-19 11:00", "out")])
        wait_until(lambda: present() == 2, timeout=30, message="never showed 2 present")
    finally:
        ingest_.stop()
    occupancy_ = wire.Occupancy.model_validate_json(read_retained(broker, topic))
    assert (occupancy_.site, occupancy_.positions, occupancy_.ts) == ("murat", 9, clock())
    assert [row[1:4] for row in stored(sessions, "M003")] == [
        (at("2026-11-19 09:02"), at("2026-11-19 11:00"), False)
    ]
