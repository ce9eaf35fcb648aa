"""Issue 7 on both databases, through the real ingest path, the presence engine, the
retention and the API: final sessions, quarantine, outcomes, one place at a time, and
manual sessions that late taps never undo.

Times are relative to now (the hub stamps each event's receipt with its clock, and the
quarantine compares the two), on sites open every day, so nothing depends on the day the
tests run.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.config import HubConfig
from hub.intake.ingest import ingest_lines
from hub.people.imports import import_members, import_sites
from hub.presence.engine import Presence
from hub.presence.retention import apply_retention
from hub.reports import queries
from hub.store.events import Incoming, store_events
from hub.store.models import AuditEntry, Event, PresenceSession, utcnow
from hub.web.app import create_app
from telecentre import wire

PARIS = ZoneInfo("Europe/Paris")
EVERY_DAY = {day: ["08:00-20:00"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
SITES = f"""\
sites:
  - id: murat
    name: La Cocotte Numérique
    spaces: [{{id: plateau, kind: open_space, positions: 6}}]
    opening: {EVERY_DAY}
    open_on_public_holidays: true
    tariffs:
      public: {{hourly: 3.0, daily_cap: 15.0, monthly_cap: 150.0}}
      pass: {{hourly: 2.0, daily_cap: 10.0, monthly_cap: 100.0}}
  - id: ydes
    name: Maison des Services
    spaces: [{{id: bureau, kind: office, positions: 1}}]
    opening: {EVERY_DAY}
    open_on_public_holidays: true
"""
MEMBERS = (
    "member_id,last_name,first_name,email,category,pass_since,pass_until,badges\n"
    "M001,Durand,Anne,,independent,,,04A2B3C4\n"
    "M002,Martin,Paul,,employee,,,0A1B2C3D\n"
)
BADGE = {"M001": "04A2B3C4", "M002": "0A1B2C3D"}
ADMIN, MURAT = "admin-token-0123456789", "murat-token-0123456789"
TOKENS = {ADMIN: "admin", MURAT: "animator:murat"}


def days_ago(days: int, hour: str) -> datetime:
    """A Paris wall-clock time `days` local days before today."""
    day = datetime.now(PARIS).date() - timedelta(days=days)
    return datetime.combine(day, time.fromisoformat(hour), PARIS)


def badge(
    member: str,
    ts: datetime,
    direction: wire.Direction,
    *,
    site: str = "murat",
    clock_synced: bool = True,
) -> dict[str, Any]:
    return {
        "v": 1,
        "id": str(uuid.uuid4()),
        "type": "badge",
        "site": site,
        "device": f"{site}-door",
        "seq": 0,
        "ts": ts.isoformat(),
        "clock_synced": clock_synced,
        "badge": BADGE[member],
        "reader": "entrance",
        "direction": direction,
        "access": "granted",
    }


@pytest.fixture
def store(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    with sessions.begin() as session:
        import_sites(session, SITES)
        import_members(session, MEMBERS)
    return sessions


@pytest.fixture
def presence() -> Presence:
    return Presence()


def ingest(
    store: sessionmaker[Session],
    presence: Presence,
    *events: dict[str, Any],
    on_time: bool = False,
) -> list[str]:
    """Each event its own batch, as late taps come (received now), or each received a
    minute after its time stamp (`on_time`: the history before the retention); their ids."""
    for event in events:
        stamped = datetime.fromisoformat(event["ts"])
        received = stamped + timedelta(minutes=1) if on_time else utcnow()
        with store.begin() as session:
            result = store_events(session, [Incoming(wire.encode(event), None, received)])
            presence.apply(session, result.new)
    return [event["id"] for event in events]


def client_for(store: sessionmaker[Session], presence: Presence) -> FlaskClient:
    app = create_app(
        HubConfig(api_tokens=TOKENS), sessionmaker=store, presence_hooks=[presence.apply]
    )
    return app.test_client()


def api(client: FlaskClient, method: str, path: str, token: str = ADMIN, **kw: Any) -> Any:
    response = client.open(
        f"/api/v1/{path}", method=method, headers={"Authorization": f"Bearer {token}"}, **kw
    )
    return response.status_code, response.get_json()


Row = tuple[str, datetime, datetime | None, bool, str | None, bool, bool]


def rows(store: sessionmaker[Session], member: str) -> list[Row]:
    with store() as session:
        found = session.scalars(
            select(PresenceSession)
            .where(PresenceSession.member_id == member)
            .order_by(PresenceSession.start)
        )
        return [
            (r.site_id, r.start, r.end, r.auto_closed, r.end_reason, r.final, r.manual)
            for r in found
        ]


def figures(store: sessionmaker[Session]) -> tuple[Any, ...]:
    """Hours and invoice lines of the last five months: what the late taps must not move."""
    today = datetime.now(PARIS).date()
    first = (today.replace(day=1) - timedelta(days=150)).replace(day=1)
    months = sorted({(first + timedelta(days=d)).strftime("%Y-%m") for d in range(160)})
    with store() as session:
        usage = queries.usage(session, first, today, "member")
        lines = [queries.billing(session, month).lines for month in months]
    return usage, lines


def outcome(store: sessionmaker[Session], event_id: str) -> tuple[str | None, str | None]:
    with store() as session:
        event = session.get_one(Event, event_id)
        return event.outcome, event.outcome_reason


def test_after_retention_old_1970_and_2999_taps_are_quarantined_and_change_nothing(
    store: sessionmaker[Session], presence: Presence
) -> None:
    history = []
    for days in (120, 110, 100, 95, 10):
        history += [
            badge("M001", days_ago(days, "09:00"), "in"),
            badge("M001", days_ago(days, "12:00"), "out"),
        ]
    ingest(store, presence, *history, on_time=True)
    with store.begin() as session:
        result = apply_retention(session, utcnow(), events_retention_days=90)
    assert result.sessions_finalised == 4 and result.events_deleted == 8
    before, totals = rows(store, "M001"), figures(store)
    assert [(final, reason) for _, _, _, _, reason, final, _ in before] == [(True, "tap")] * 4 + [
        (False, "tap")
    ]
    assert totals[1] and any(totals[1]), "some month has invoice lines"

    old, unsynced, future = ingest(
        store,
        presence,
        badge("M001", days_ago(100, "10:30"), "out"),  # inside a final session
        badge("M001", datetime(1970, 1, 1, 0, 0, 12, tzinfo=UTC), "in", clock_synced=False),
        badge("M001", datetime(2999, 1, 1, 9, 0, tzinfo=UTC), "in"),
    )
    assert rows(store, "M001") == before
    assert figures(store) == totals
    assert outcome(store, old) == outcome(store, unsynced) == ("quarantined", "too_old")
    assert outcome(store, future) == ("quarantined", "future")

    client = client_for(store, presence)
    status, listed = api(client, "GET", "events?status=quarantined")
    assert status == 200 and listed["total"] == 3
    assert {(e["id"], e["outcome_reason"]) for e in listed["events"]} == {
        (old, "too_old"),
        (unsynced, "too_old"),
        (future, "future"),
    }
    assert api(client, "GET", "health")[1]["quarantined"] == 3
    # Redelivered: a duplicate, nothing moves.
    with store.begin() as session:
        again = ingest_lines(
            session,
            [wire.encode(e) for e in history[-2:]],
            on_batch=[presence.apply],
        )
    assert (again.accepted, again.duplicates) == (0, 2)
    assert rows(store, "M001") == before


def test_every_tap_says_why_and_an_admin_applies_a_quarantined_one(
    store: sessionmaker[Session], presence: Presence
) -> None:
    first, twice, again, out, nothing = ingest(
        store,
        presence,
        badge("M002", days_ago(2, "09:00"), "in"),
        badge("M002", days_ago(2, "09:00:20"), "in"),
        badge("M002", days_ago(2, "10:00"), "in"),
        badge("M002", days_ago(2, "12:00"), "out"),
        badge("M002", days_ago(2, "12:30"), "out"),
    )
    assert [outcome(store, e)[0] for e in (first, twice, again, out, nothing)] == [
        "counted", "debounced", "already_in", "counted", "no_open_session",
    ]  # fmt: skip
    # A late tap 30 s before the first one: it opens the session, the first is debounced.
    (late,) = ingest(store, presence, badge("M002", days_ago(2, "08:59:30"), "in"))
    assert outcome(store, late)[0] == "counted"
    assert outcome(store, first)[0] == "debounced"

    # A Pi stamped an hour ahead (a time zone set wrong): quarantined until an admin says.
    (ahead,) = ingest(store, presence, badge("M002", datetime.now(UTC) + timedelta(hours=1), "in"))
    assert outcome(store, ahead) == ("quarantined", "future")
    client = client_for(store, presence)
    assert api(client, "POST", f"events/{ahead}/apply", MURAT)[0] == 403
    status, applied = api(client, "POST", f"events/{ahead}/apply")
    assert status == 200 and applied["outcome"] == "counted"
    assert api(client, "POST", f"events/{ahead}/apply")[0] == 409  # not quarantined any more
    with store() as session:
        audit = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "event_applied")
        ).one()
        assert audit.detail["before"] == {"outcome": "quarantined", "reason": "future"}
    listed = api(client, "GET", "events?member=M002&status=debounced")[1]
    assert [e["id"] for e in listed["events"]] == [twice, first]
    page = api(client, "GET", "events?member=M002&limit=2")[1]
    assert (page["total"], page["next"], len(page["events"])) == (7, 2, 2)
    assert api(client, "GET", "events?status=lost")[0] == 400


def test_an_animator_sees_its_own_sites_events_only(
    store: sessionmaker[Session], presence: Presence
) -> None:
    at_murat, at_ydes = ingest(
        store,
        presence,
        badge("M001", days_ago(1, "09:00"), "in"),
        badge("M002", days_ago(1, "09:00"), "in", site="ydes"),
    )
    client = client_for(store, presence)
    listed = api(client, "GET", "events", MURAT)[1]
    assert [e["id"] for e in listed["events"]] == [at_murat]
    assert api(client, "GET", "events?site=ydes", MURAT)[0] == 403
    assert {e["id"] for e in api(client, "GET", "events")[1]["events"]} == {at_murat, at_ydes}


def test_a_manual_check_out_survives_late_taps(
    store: sessionmaker[Session], presence: Presence
) -> None:
    ingest(store, presence, badge("M001", days_ago(3, "09:00"), "in"))
    (session_id,) = _ids(store, "M001")
    client = client_for(store, presence)
    at = days_ago(3, "12:00").isoformat()
    body = {"at": at, "reason": "oubli de badge en sortie"}
    assert api(client, "POST", f"sessions/{session_id}/check-out", json=body)[0] == 200
    corrected = rows(store, "M001")
    assert corrected == [
        ("murat", days_ago(3, "09:00"), days_ago(3, "12:00"), False, "manual", True, True)
    ]
    inside, after = ingest(
        store,
        presence,
        badge("M001", days_ago(3, "11:00"), "out"),  # the edge was offline
        badge("M001", days_ago(3, "17:00"), "out"),
    )
    assert rows(store, "M001") == corrected
    assert outcome(store, inside) == ("quarantined", "final_session")
    assert outcome(store, after) == ("no_open_session", None)
    status, refused = api(client, "POST", f"events/{inside}/apply")
    assert status == 409 and "final session" in refused["error"]
    today = datetime.now(PARIS).date()
    csv = client.get(
        f"/api/v1/sessions?format=csv&from={today - timedelta(days=5)}&to={today}",
        headers={"Authorization": f"Bearer {ADMIN}"},
    ).get_data(as_text=True)
    header, line = csv.splitlines()[:2]
    assert header.endswith("end_reason,manual") and line.endswith("manual,true")


def _ids(store: sessionmaker[Session], member: str) -> list[int]:
    with store() as session:
        return list(
            session.scalars(select(PresenceSession.id).where(PresenceSession.member_id == member))
        )


def test_manual_sessions_api_checks_its_input_and_the_animators_site(
    store: sessionmaker[Session], presence: Presence
) -> None:
    client = client_for(store, presence)
    at = days_ago(1, "09:00").isoformat()
    body = {"member_id": "M001", "site": "ydes", "at": at, "reason": "badge oublié"}
    assert api(client, "POST", "sessions", MURAT, json=body)[0] == 403
    status, refused = api(client, "POST", "sessions", json=body | {"reason": " "})
    assert (status, refused["field"]) == (422, "reason")
    assert api(client, "POST", "sessions", json=body | {"at": "tomorrow"})[0] == 400
    status, made = api(client, "POST", "sessions", json=body)
    assert status == 201 and made["manual"] and made["manual_by"].startswith("api:admin")
    out = {"at": days_ago(1, "10:00").isoformat(), "reason": "parti"}
    assert api(client, "POST", f"sessions/{made['id']}/check-out", MURAT, json=out)[0] == 404
    fix = {"start": days_ago(1, "08:30").isoformat(), "end": days_ago(1, "11:00").isoformat()}
    status, fixed = api(client, "PATCH", f"sessions/{made['id']}", json=fix | {"reason": "vu"})
    assert status == 200 and fixed["end_reason"] == "manual"
    assert datetime.fromisoformat(fixed["start"]) == days_ago(1, "08:30")
    status, refused = api(
        client,
        "PATCH",
        f"sessions/{made['id']}",
        json={"start": fix["end"], "end": fix["start"], "reason": "x"},
    )
    assert (status, refused["field"]) == (422, "end")


def test_one_member_is_never_at_two_sites_whatever_the_order(
    store: sessionmaker[Session], presence: Presence
) -> None:
    """Murat at 09:00, Ydes at 10:00 without badging out at Murat, out of Ydes at 12:00; the
    same day for two members, one in order, the other in reverse order."""

    def day(member: str) -> list[dict[str, Any]]:
        return [
            badge(member, days_ago(1, "09:00"), "in"),
            badge(member, days_ago(1, "10:00"), "in", site="ydes"),
            badge(member, days_ago(1, "12:00"), "out", site="ydes"),
        ]

    ingest(store, presence, *day("M001"))
    ingest(store, presence, *reversed(day("M002")))
    expected = [
        # Ydes's tap ends Murat's session at 10:00: the member left, nothing auto-closed.
        ("murat", days_ago(1, "09:00"), days_ago(1, "10:00"), False, "elsewhere"),
        ("ydes", days_ago(1, "10:00"), days_ago(1, "12:00"), False, "tap"),
    ]
    for member in ("M001", "M002"):
        assert [row[:5] for row in rows(store, member)] == expected
    with store() as session:
        at_eleven = queries.occupancy(session, days_ago(1, "11:00"))
    assert {r.site: [m.member_id for m in r.members] for r in at_eleven} == {
        "murat": [],
        "ydes": ["M001", "M002"],
    }
    # A late tap out at Murat at 09:30: Murat's session now ends there by itself.
    ingest(store, presence, badge("M001", days_ago(1, "09:30"), "out"))
    assert rows(store, "M001")[0][2:5] == (days_ago(1, "09:30"), False, "tap")
    # A late tap at Ydes 30 s before: it opens Ydes, debounces the 10:00 one, and Murat's
    # session of M002 is cut where the member was first seen at Ydes.
    ingest(store, presence, badge("M002", days_ago(1, "09:59:30"), "in", site="ydes"))
    assert [row[1:5] for row in rows(store, "M002")] == [
        (days_ago(1, "09:00"), days_ago(1, "09:59:30"), False, "elsewhere"),
        (days_ago(1, "09:59:30"), days_ago(1, "12:00"), False, "tap"),
    ]


def test_a_member_back_at_the_first_site_is_there_again_whatever_the_order(
    store: sessionmaker[Session], presence: Presence
) -> None:
    """Murat at 09:00, Ydes at 10:00, back at Murat at 11:00 without badging out anywhere:
    at Murat again from 11:00, the taps arriving in order for one member, reversed for the
    other; the board says so."""

    def day(member: str) -> list[dict[str, Any]]:
        return [
            badge(member, days_ago(1, "09:00"), "in"),
            badge(member, days_ago(1, "10:00"), "in", site="ydes"),
            badge(member, days_ago(1, "11:00"), "in"),
        ]

    ingest(store, presence, *day("M001"))
    ingest(store, presence, *reversed(day("M002")))
    expected = [
        ("murat", days_ago(1, "09:00"), days_ago(1, "10:00"), False, "elsewhere"),
        ("ydes", days_ago(1, "10:00"), days_ago(1, "11:00"), False, "elsewhere"),
        ("murat", days_ago(1, "11:00")),
    ]
    for member in ("M001", "M002"):
        found = rows(store, member)
        assert [row[:5] for row in found[:2]] == expected[:2]
        assert found[2][:2] == expected[2]
    with store() as session:
        at_noon = queries.occupancy(session, days_ago(1, "11:30"))
    assert {r.site: [m.member_id for m in r.members] for r in at_noon} == {
        "murat": ["M001", "M002"],
        "ydes": [],
    }
