"""The HTTP API of API.md through Flask's test client, on SQLite and PostgreSQL.

The figures are computed by hand from one small network (below): two sites, three members,
eight sessions written straight into the sessions table, so that billing and evaluation are
checked against numbers a person worked out, not against the rules' own code.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import TestResponse

from hub.config import HubConfig
from hub.people.imports import import_members, import_sites
from hub.presence.engine import Presence
from hub.store import make_engine, make_sessionmaker
from hub.store.events import NewEvent
from hub.store.models import AccessListVersion, Device, Event, Member, PresenceSession, utcnow
from hub.web.app import create_app
from telecentre import wire

DEPARTMENT = "department-token-0001"
ADMIN = "admin-token-00000001"
MURAT = "animator-murat-token-01"
YDES = "animator-ydes-token-001"
TOKENS = {DEPARTMENT: "department", ADMIN: "admin", MURAT: "animator:murat", YDES: "animator:ydes"}

PARIS = ZoneInfo("Europe/Paris")
#: Wednesday 7 October 2026, 10:00 in Murat: M001 came in at 09:00 and is still there.
NOW = datetime(2026, 10, 7, 10, 0, tzinfo=PARIS)

# Murat: Mondays 7 h and Tuesdays 8.5 h; October 2026 has 4 of each and no public holiday,
# so 62 h × 9 positions = 558 available hours. Ydes has no opening hours: 0 available.
SITES = """\
sites:
  - id: murat
    name: "La Cocotte Numérique"
    zrr: true
    annual_cost_eur: 5400
    spaces:
      - {id: bureaux, kind: office, positions: 3}
      - {id: plateau, kind: open_space, positions: 6}
      - {id: reunion, kind: meeting, positions: 0}
    opening:
      mon: ["08:30-12:00", "13:30-17:00"]
      tue: ["08:30-17:00"]
    tariffs:
      public: {hourly: 3.0, daily_cap: 15.0, monthly_cap: 150.0}
      pass:   {hourly: 2.0, daily_cap: 10.0, monthly_cap: 100.0}
  - id: ydes
    name: Maison des Services
    annual_cost_eur: 1000
    spaces: [{id: bureau, kind: office, positions: 1}]
"""

HEADER = "member_id,last_name,first_name,email,category,pass_since,pass_until,badges\n"
# M001's free months ended on 2026-07-15 (pass rates in October); M003's run to 2027-03-01.
MEMBERS = HEADER + (
    "M001,Durand,Anne,anne@example.org,independent,2026-01-15,2026-12-31,04A2B3C4\n"
    "M002,Martin,Paul,,employee,,,0A1B2C3D\n"
    "M003,Roux,Léa,lea@example.org,mobile,2026-09-01,,\n"
)

#: (member, site, local start, local end or None, auto_closed)
STAYS = [
    ("M001", "murat", "2026-10-05 09:00", "2026-10-05 10:10", False),  # 70 min, billed 75
    ("M002", "murat", "2026-10-05 13:30", "2026-10-05 14:01", False),  # 31 min, billed 45
    ("M002", "ydes", "2026-10-05 10:30", "2026-10-05 11:30", False),  # 60 min, free site
    ("M001", "murat", "2026-10-06 08:30", "2026-10-06 17:00", True),  # 510 min, day cap
    ("M003", "murat", "2026-10-06 10:00", "2026-10-06 12:00", False),  # 120 min, free Pass
    ("M001", "murat", "2026-10-07 09:00", None, False),  # still there at NOW
    ("M002", "murat", "2026-11-01 00:30", "2026-11-01 01:30", False),  # Oct 31 in UTC
    ("M001", "murat", "2026-11-02 09:00", "2026-11-02 11:00", False),
]

OCTOBER = {"from": "2026-10-01", "to": "2026-10-31"}


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=PARIS)


@pytest.fixture
def published() -> list[set[str]]:
    """What the app's `after_import` hook was called with."""
    return []


@pytest.fixture
def app(sessions: sessionmaker[Session], published: list[set[str]]) -> Flask:
    return create_app(
        HubConfig(api_tokens=TOKENS),
        sessionmaker=sessions,
        mqtt_up=lambda: True,
        after_import=published.append,
        clock=lambda: NOW,
    )


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def network(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        import_sites(session, SITES)
        import_members(session, MEMBERS)
        for member, site, start, end, auto_closed in STAYS:
            session.add(
                PresenceSession(
                    member_id=member,
                    site_id=site,
                    start=local(start),
                    end=local(end) if end else None,
                    auto_closed=auto_closed,
                )
            )
        seen = datetime(2026, 10, 7, 9, 59, tzinfo=PARIS)
        session.add_all(
            [
                Device(
                    id="murat-door",
                    site="murat",
                    state="online",
                    last_seen=seen,
                    queue=0,
                    clock_synced=True,
                    version="0.1.0",
                    access_version=7,
                ),
                Device(id="ydes-door", site="ydes", state="offline", queue=12),
                # murat-door holds 7; 9 was issued a moment ago: it has time to arrive.
                AccessListVersion(site_id="murat", version=7, issued=seen),
                AccessListVersion(site_id="murat", version=9, issued=utcnow()),
                # ydes-door holds nothing yet, while ydes's list is long issued: behind.
                AccessListVersion(site_id="ydes", version=5, issued=seen),
            ]
        )


def get(client: FlaskClient, path: str, token: str = DEPARTMENT, **params: str) -> TestResponse:
    return client.get(
        f"/api/v1/{path}", query_string=params, headers={"Authorization": f"Bearer {token}"}
    )


def post(
    client: FlaskClient, path: str, body: str | bytes, token: str = DEPARTMENT
) -> TestResponse:
    return client.post(f"/api/v1/{path}", data=body, headers={"Authorization": f"Bearer {token}"})


def body(response: TestResponse, status: int = 200) -> Any:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    return response.get_json()


def table(response: TestResponse) -> list[list[str]]:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def count(sessions: sessionmaker[Session], model: type[object]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


# --- Health and tokens ------------------------------------------------------------------------


def test_health_needs_no_token(client: FlaskClient) -> None:
    assert body(client.get("/api/v1/health")) == {
        "status": "ok",
        "db": "ok",
        "mqtt": "ok",
        "quarantined": 0,
    }


def test_health_says_what_is_down(sessions: sessionmaker[Session]) -> None:
    app = create_app(HubConfig(), sessionmaker=sessions)
    assert body(app.test_client().get("/api/v1/health"))["mqtt"] == "down"
    dead = make_sessionmaker(make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none"))
    down = create_app(HubConfig(), sessionmaker=dead, mqtt_up=lambda: True)
    answer = body(down.test_client().get("/api/v1/health"), 503)
    assert answer == {"status": "down", "db": "down", "mqtt": "ok", "quarantined": None}


@pytest.mark.parametrize(
    ("authorization", "error"),
    [
        (None, "this call needs an 'Authorization: Bearer <token>' header"),
        (f"Basic {DEPARTMENT}", "this call needs an 'Authorization: Bearer <token>' header"),
        ("Bearer not-a-known-token-at-all", "this token is not known to the hub"),
    ],
)
def test_calls_without_a_known_token_get_401(
    client: FlaskClient, authorization: str | None, error: str
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    for path in ("occupancy", "sessions?from=2026-10-01&to=2026-10-31"):
        response = client.get(f"/api/v1/{path}", headers=headers)
        assert body(response, 401) == {"error": error}
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert body(client.post("/api/v1/sites/import", data=SITES, headers=headers), 401)
    assert count_sites(client) == 0


def count_sites(client: FlaskClient) -> int:
    return len(body(get(client, "occupancy"))["sites"])


def test_unknown_paths_and_methods_answer_json(client: FlaskClient) -> None:
    assert body(get(client, "nowhere"), 404) == {
        "error": "there is no /api/v1/nowhere in this API (see docs/api.md)"
    }
    error = body(get(client, "sites/import"), 405)["error"]
    assert error == "/api/v1/sites/import does not answer GET (it answers OPTIONS, POST)"


# --- Imports ----------------------------------------------------------------------------------


def test_sites_and_members_imports_then_publish_access_lists(
    client: FlaskClient, sessions: sessionmaker[Session], published: list[set[str]]
) -> None:
    assert body(post(client, "sites/import", SITES)) == {"created": 2, "updated": 0}
    assert body(post(client, "members/import", MEMBERS, token=ADMIN)) == {
        "created": 3,
        "updated": 0,
    }
    assert published == [{"murat", "ydes"}, {"murat", "ydes"}]

    assert body(post(client, "sites/import", SITES)) == {"created": 0, "updated": 0}
    changed = MEMBERS.replace("M002,Martin,Paul,,employee", "M002,Martin,Paul,,independent")
    assert body(post(client, "members/import", changed)) == {"created": 0, "updated": 1}
    assert published == [{"murat", "ydes"}, {"murat", "ydes"}], "no access list changed"
    assert count(sessions, Member) == 3


def test_a_members_file_with_bad_rows_is_422_and_writes_nothing(
    client: FlaskClient, sessions: sessionmaker[Session], published: list[set[str]]
) -> None:
    body(post(client, "sites/import", SITES))
    bad = MEMBERS + "M004,Blanc,Jean,not-an-email,other,,,\nM005,Noir,Eve,,pirate,,,\n"
    answer = body(post(client, "members/import", bad), 422)
    assert answer == {
        "error": "the members file has 2 bad lines; nothing was imported",
        "lines": [
            {"line": 5, "field": "email", "error": "'not-an-email' is not an e-mail address"},
            {
                "line": 6,
                "field": "category",
                "error": "'pirate' is not one of independent, employee, mobile, other",
            },
        ],
    }
    assert count(sessions, Member) == 0
    assert published == [{"murat", "ydes"}]


def test_a_bad_sites_file_is_422(client: FlaskClient) -> None:
    answer = body(post(client, "sites/import", SITES.replace("office", "bureau", 1)), 422)
    assert answer["error"] == "the sites file has 1 bad line; nothing was imported"
    assert [(line["line"], line["field"]) for line in answer["lines"]] == [(7, "spaces.0.kind")]
    assert count_sites(client) == 0
    assert body(post(client, "sites/import", b"\xff\xfe"), 400) == {
        "error": "the body is not UTF-8 text (byte 0)"
    }


@pytest.mark.parametrize("path", ["sites/import", "members/import", "events/import"])
def test_animators_may_not_import(client: FlaskClient, path: str) -> None:
    answer = body(post(client, path, SITES, token=MURAT), 403)
    assert answer == {"error": "importing needs a department or admin token"}
    assert count_sites(client) == 0


def badge_line(seq: int, ts: str, direction: wire.Direction, event_id: str | None = None) -> str:
    event = wire.badge_event(
        site="murat",
        device="murat-door",
        badge="04A2B3C4",
        reader="entrance",
        direction=direction,
        access="granted",
        clock_synced=True,
    )
    event |= {"seq": seq, "ts": ts}
    if event_id is not None:
        event["id"] = event_id
    return wire.encode(event).decode()


def test_events_import_lists_rejected_lines_and_runs_the_presence_hooks(
    app: Flask, client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    body(post(client, "sites/import", SITES))
    body(post(client, "members/import", MEMBERS))
    seen: list[tuple[str, str | None]] = []

    def hook(_session: Session, new: list[NewEvent]) -> None:
        seen.extend((event.event.id, event.member_id) for event in new)

    app.extensions["telecentre.api"].presence_hooks.append(hook)
    first = badge_line(1, "2026-10-05T09:00:00+02:00", "in", "11111111-1111-4111-8111-111111111111")
    lines = [
        first,
        "not json",
        "",
        first,
        json.dumps({"v": 1, "type": "badge", "site": "murat"}),
        badge_line(2, "2026-10-05T10:10:00+02:00", "out"),
    ]
    answer = body(post(client, "events/import", "\n".join(lines) + "\n"))
    assert answer["accepted"] == 2
    assert answer["duplicates"] == 1
    assert [line["line"] for line in answer["rejected"]] == [2, 5]
    assert answer["rejected"][0]["error"].startswith("payload is not UTF-8 JSON")
    assert len(seen) == 2
    assert seen[0] == ("11111111-1111-4111-8111-111111111111", "M001")
    assert count(sessions, Event) == 2


def test_imported_events_make_sessions_through_the_presence_engine(
    sessions: sessionmaker[Session],
) -> None:
    engine = Presence(clock=lambda: NOW)
    app = create_app(
        HubConfig(api_tokens=TOKENS), sessionmaker=sessions, presence_hooks=[engine.apply]
    )
    client = app.test_client()
    body(post(client, "sites/import", SITES))
    body(post(client, "members/import", MEMBERS))
    lines = [
        badge_line(1, "2026-10-05T09:00:00+02:00", "in"),
        badge_line(2, "2026-10-05T10:10:00+02:00", "out"),
    ]
    assert body(post(client, "events/import", "\n".join(lines)))["accepted"] == 2
    listed = body(get(client, "sessions", **OCTOBER))["sessions"]
    assert listed == [
        {
            "member_id": "M001",
            "site": "murat",
            "start": "2026-10-05T09:00:00+02:00",
            "end": "2026-10-05T10:10:00+02:00",
            "hours": 1.1667,
            "auto_closed": False,
            "end_reason": "tap",
            "manual": False,
            "id": listed[0]["id"],
        }
    ]


def test_a_failing_import_leaves_nothing_behind(sessions: sessionmaker[Session]) -> None:
    def broken(_session: Session, _new: list[NewEvent]) -> None:
        raise RuntimeError("the presence engine broke")

    app = create_app(HubConfig(api_tokens=TOKENS), sessionmaker=sessions, presence_hooks=[broken])
    client = app.test_client()
    body(post(client, "sites/import", SITES))
    answer = body(
        post(client, "events/import", badge_line(1, "2026-10-05T09:00:00+02:00", "in")), 500
    )
    assert answer == {"error": "the hub failed to answer this request; its log says why"}
    assert count(sessions, Event) == 0


# --- Reports ----------------------------------------------------------------------------------


@pytest.mark.usefixtures("network")
def test_sessions_of_a_period_by_local_day_in_pages(client: FlaskClient) -> None:
    answer = body(get(client, "sessions", **OCTOBER))
    assert answer["total"] == 6 and answer["next"] is None
    listed = answer["sessions"]
    assert [(s["member_id"], s["site"], s["start"]) for s in listed] == [
        ("M001", "murat", "2026-10-05T09:00:00+02:00"),
        ("M002", "ydes", "2026-10-05T10:30:00+02:00"),
        ("M002", "murat", "2026-10-05T13:30:00+02:00"),
        ("M001", "murat", "2026-10-06T08:30:00+02:00"),
        ("M003", "murat", "2026-10-06T10:00:00+02:00"),
        ("M001", "murat", "2026-10-07T09:00:00+02:00"),
    ]
    assert listed[3] | {"start": None} == {
        "member_id": "M001",
        "site": "murat",
        "start": None,
        "end": "2026-10-06T17:00:00+02:00",
        "hours": 8.5,
        "auto_closed": True,
        "end_reason": listed[3]["end_reason"],
        "manual": False,
        "id": listed[3]["id"],
    }
    assert (listed[-1]["end"], listed[-1]["hours"]) == (None, None)

    november = body(get(client, "sessions", **{"from": "2026-11-01", "to": "2026-11-01"}))
    assert [s["start"] for s in november["sessions"]] == ["2026-11-01T00:30:00+01:00"]

    page = body(get(client, "sessions", limit="2", offset="2", member="M001", **OCTOBER))
    assert (page["total"], page["next"], len(page["sessions"])) == (3, None, 1)
    page = body(get(client, "sessions", limit="2", **OCTOBER))
    assert (page["total"], page["next"]) == (6, 2)
    assert page["sessions"] == listed[:2]
    page = body(get(client, "sessions", limit="2", offset=str(page["next"]), **OCTOBER))
    assert page["sessions"] == listed[2:4]


@pytest.mark.usefixtures("network")
def test_sessions_as_csv(client: FlaskClient) -> None:
    response = get(client, "sessions", format="csv", limit="5", site="murat", **OCTOBER)
    rows = table(response)
    assert rows[0] == [
        "member_id", "site", "start", "end", "hours", "auto_closed", "end_reason", "manual",
    ]  # fmt: skip
    assert rows[1] == [
        "M001",
        "murat",
        "2026-10-05T09:00:00+02:00",
        "2026-10-05T10:10:00+02:00",
        "1.17",
        "false",
        rows[1][6],
        "false",
    ]
    assert rows[-1][3:6] == ["", "", "false"]
    assert len(rows) == 6
    assert (response.headers["X-Total-Count"], "X-Next-Offset" in response.headers) == (
        "5",
        False,
    )


@pytest.mark.usefixtures("network")
def test_usage_by_member_site_and_month(client: FlaskClient) -> None:
    by_member = body(get(client, "usage", by="member", **OCTOBER))
    assert by_member == {
        "by": "member",
        "rows": [
            {"member_id": "M001", "sessions": 3, "hours": 9.6667},
            {"member_id": "M002", "sessions": 2, "hours": 1.5167},
            {"member_id": "M003", "sessions": 1, "hours": 2.0},
        ],
        "total_hours": 13.1833,
    }
    by_site = body(get(client, "usage", by="site", **OCTOBER))["rows"]
    assert by_site == [
        {"site": "murat", "sessions": 5, "hours": 12.1833},
        {"site": "ydes", "sessions": 1, "hours": 1.0},
    ]
    autumn = {"from": "2026-10-01", "to": "2026-11-30"}
    by_month = body(get(client, "usage", by="month", site="murat", **autumn))
    assert by_month["rows"] == [
        {"month": "2026-10", "sessions": 5, "hours": 12.1833},
        {"month": "2026-11", "sessions": 2, "hours": 3.0},
    ]
    assert by_month["total_hours"] == 15.1833
    rows = table(get(client, "usage", by="member", format="csv", **OCTOBER))
    assert rows == [
        ["member_id", "sessions", "hours"],
        ["M001", "3", "9.67"],
        ["M002", "2", "1.52"],
        ["M003", "1", "2.00"],
    ]


@pytest.mark.usefixtures("network")
def test_billing_of_a_month(client: FlaskClient) -> None:
    # M001, Pass rates: 75 min = 2.50 on the 5th; 510 min = 17.00 capped to 10.00 on the 6th.
    # M002, public rates: 31 min billed 45 = 2.25. M003: free months. Ydes charges nothing.
    answer = body(get(client, "billing", month="2026-10"))
    assert answer == {
        "month": "2026-10",
        # Worked out from today's sessions: the month is not closed.
        "closed": False,
        "closed_at": None,
        "lines": [
            {
                "member_id": "M001",
                "member_name": "Anne Durand",
                "site": "murat",
                "month": "2026-10",
                "hours": 9.6667,
                "free_hours": 0.0,
                "billed_hours": 9.75,
                "rate": "pass",
                "amount_eur": 12.5,
                "corrects": None,
                "invoice": None,
            },
            {
                "member_id": "M002",
                "member_name": "Paul Martin",
                "site": "murat",
                "month": "2026-10",
                "hours": 0.5167,
                "free_hours": 0.0,
                "billed_hours": 0.75,
                "rate": "public",
                "amount_eur": 2.25,
                "corrects": None,
                "invoice": None,
            },
            {
                "member_id": "M003",
                "member_name": "Léa Roux",
                "site": "murat",
                "month": "2026-10",
                "hours": 2.0,
                "free_hours": 2.0,
                "billed_hours": 0.0,
                "rate": "free",
                "amount_eur": 0.0,
                "corrects": None,
                "invoice": None,
            },
            {
                "member_id": "M002",
                "member_name": "Paul Martin",
                "site": "ydes",
                "month": "2026-10",
                "hours": 1.0,
                "free_hours": 0.0,
                "billed_hours": 1.0,
                "rate": "public",
                "amount_eur": 0.0,
                "corrects": None,
                "invoice": None,
            },
        ],
        # A total per member, over the sites, by name.
        "members": [
            {"member_id": "M001", "member_name": "Anne Durand", "total_eur": 12.5},
            {"member_id": "M003", "member_name": "Léa Roux", "total_eur": 0.0},
            {"member_id": "M002", "member_name": "Paul Martin", "total_eur": 2.25},
        ],
        "total_eur": 14.75,
    }
    rows = table(get(client, "billing", month="2026-10", site="murat", format="csv"))
    assert rows[0] == [
        "member_id",
        "member_name",
        "site",
        "month",
        "corrects",
        "hours",
        "free_hours",
        "billed_hours",
        "rate",
        "amount_eur",
        "invoice",
    ]
    assert rows[1:] == [
        [
            "M001",
            "Anne Durand",
            "murat",
            "2026-10",
            "",
            "9.67",
            "0.00",
            "9.75",
            "pass",
            "12.50",
            "",
        ],
        [
            "M002",
            "Paul Martin",
            "murat",
            "2026-10",
            "",
            "0.52",
            "0.00",
            "0.75",
            "public",
            "2.25",
            "",
        ],
        ["M003", "Léa Roux", "murat", "2026-10", "", "2.00", "2.00", "0.00", "free", "0.00", ""],
    ]
    # The session of 1 November 00:30 in Murat is November's, though still October in UTC.
    november = body(get(client, "billing", month="2026-11", site="murat"))
    assert [(line["member_id"], line["hours"]) for line in november["lines"]] == [
        ("M001", 2.0),
        ("M002", 1.0),
    ]


MURAT_OCTOBER = {
    "sites": 1,
    "positions": {"total": 9, "office": 3, "open_space": 6},
    "users": 3,
    "users_by_category": {"independent": 1, "employee": 1, "mobile": 1, "other": 0, "unknown": 0},
    "hours": 12.1833,
    "available_hours": 558.0,
    "occupancy_rate": 0.0218,
    "pass_members": 2,
    "cost_per_position": 600.0,
}


@pytest.mark.usefixtures("network")
def test_evaluation_of_a_period(client: FlaskClient) -> None:
    answer = body(get(client, "evaluation", **OCTOBER))
    ydes = {
        "sites": 1,
        "positions": {"total": 1, "office": 1, "open_space": 0},
        "users": 1,
        "users_by_category": {
            "independent": 0,
            "employee": 1,
            "mobile": 0,
            "other": 0,
            "unknown": 0,
        },
        "hours": 1.0,
        "available_hours": 0.0,
        "occupancy_rate": None,
        "pass_members": 0,
        "cost_per_position": 1000.0,
    }
    assert answer == {
        "from": "2026-10-01",
        "to": "2026-10-31",
        "sites": 2,
        "positions": {"total": 10, "office": 4, "open_space": 6},
        "users": 3,
        "users_by_category": {
            "independent": 1,
            "employee": 1,
            "mobile": 1,
            "other": 0,
            "unknown": 0,
        },
        "hours": 13.1833,
        "available_hours": 558.0,
        "occupancy_rate": 0.0236,
        "pass_members": 2,
        "cost_per_position": 640.0,
        "by_site": [{"site": "murat", **MURAT_OCTOBER}, {"site": "ydes", **ydes}],
        "zrr": MURAT_OCTOBER,
        "non_zrr": ydes,
    }
    rows = table(get(client, "evaluation", format="csv", **OCTOBER))
    assert rows[0][:3] == ["scope", "sites", "positions"]
    assert [row[0] for row in rows[1:]] == ["total", "murat", "ydes", "zrr", "non_zrr"]
    total = dict(zip(rows[0], rows[1], strict=True))
    assert (total["hours"], total["occupancy_rate"], total["cost_per_position"]) == (
        "13.18",
        "0.0236",
        "640.00",
    )


@pytest.mark.usefixtures("network")
def test_occupancy_now(client: FlaskClient) -> None:
    assert body(get(client, "occupancy")) == {
        "sites": [
            {
                "site": "murat",
                "present": 1,
                "positions": 9,
                "members": [{"member_id": "M001", "since": "2026-10-07T09:00:00+02:00"}],
            },
            {"site": "ydes", "present": 0, "positions": 1, "members": []},
        ]
    }
    assert table(get(client, "occupancy", format="csv")) == [
        ["site", "present", "positions"],
        ["murat", "1", "9"],
        ["ydes", "0", "1"],
    ]


@pytest.mark.usefixtures("network")
def test_devices(client: FlaskClient) -> None:
    assert body(get(client, "devices"))["devices"] == [
        {
            "device": "murat-door",
            "site": "murat",
            "state": "online",
            "last_seen": "2026-10-07T07:59:00+00:00",
            "queue": 0,
            "clock_synced": True,
            "version": "0.1.0",
            "access_version": 7,
            "latest_access_version": 9,
            "health": "ok",
        },
        {
            "device": "ydes-door",
            "site": "ydes",
            "state": "offline",
            "last_seen": None,
            "queue": 12,
            "clock_synced": None,
            "version": None,
            "access_version": None,
            "latest_access_version": 5,
            "health": "access_list_behind",
        },
    ]
    assert table(get(client, "devices", format="csv", site="ydes")) == [
        [
            "device",
            "site",
            "state",
            "last_seen",
            "queue",
            "clock_synced",
            "version",
            "access_version",
            "latest_access_version",
            "health",
        ],
        ["ydes-door", "ydes", "offline", "", "12", "", "", "", "5", "access_list_behind"],
    ]


# --- Roles ------------------------------------------------------------------------------------

LISTS = [
    ("occupancy", {}),
    ("sessions", OCTOBER),
    ("usage", {"by": "member", **OCTOBER}),
    ("billing", {"month": "2026-10"}),
    ("devices", {}),
]


@pytest.mark.usefixtures("network")
@pytest.mark.parametrize(("path", "params"), LISTS)
def test_an_animator_sees_only_its_site(
    client: FlaskClient, path: str, params: dict[str, str]
) -> None:
    for fmt in ("json", "csv"):
        text = get(client, path, token=YDES, format=fmt, **params).get_data(as_text=True)
        assert "ydes" in text or path == "usage"
        assert "murat" not in text and "M001" not in text and "M003" not in text
        mine = get(client, path, token=YDES, format=fmt, site="ydes", **params)
        assert mine.get_data(as_text=True) == text
        everything = get(client, path, token=ADMIN, format=fmt, **params).get_data(as_text=True)
        assert "murat" in everything or "M001" in everything

    refused = get(client, path, token=YDES, site="murat", **params)
    assert body(refused, 403) == {"error": "this token may only read site 'ydes'"}
    other = get(client, path, token=YDES, site="aurillac", **params)
    assert body(other, 403) == {"error": "this token may only read site 'ydes'"}


@pytest.mark.usefixtures("network")
def test_an_animator_gets_its_own_evaluation_only(client: FlaskClient) -> None:
    answer = body(get(client, "evaluation", token=MURAT, **OCTOBER))
    assert answer == {
        "from": "2026-10-01",
        "to": "2026-10-31",
        **MURAT_OCTOBER,
        "by_site": [{"site": "murat", **MURAT_OCTOBER}],
    }
    text = get(client, "evaluation", token=YDES, format="csv", **OCTOBER).get_data(as_text=True)
    assert "murat" not in text and "zrr" not in text


@pytest.mark.usefixtures("network")
def test_a_site_that_does_not_exist_is_404(client: FlaskClient) -> None:
    assert body(get(client, "sessions", site="aurillac", **OCTOBER), 404) == {
        "error": "there is no site 'aurillac'"
    }


# --- Bad parameters ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "error"),
    [
        (
            "sessions",
            {"from": "2026-13-01", "to": "2026-10-31"},
            "parameter 'from': '2026-13-01' is not a date (YYYY-MM-DD)",
        ),
        (
            "usage",
            {"from": "2026-10-01", "to": "1/11/2026"},
            "parameter 'to': '1/11/2026' is not a date (YYYY-MM-DD)",
        ),
        (
            "evaluation",
            {"from": "2026-10-31", "to": "2026-10-01"},
            "parameter 'to': 2026-10-01 is before 'from' (2026-10-31)",
        ),
        ("sessions", {"to": "2026-10-31"}, "parameter 'from' is required (a date, YYYY-MM-DD)"),
        ("billing", {"month": "2026-13"}, "parameter 'month': '2026-13' is not a month (YYYY-MM)"),
        ("billing", {}, "parameter 'month' is required (a month, YYYY-MM)"),
        (
            "usage",
            {**OCTOBER, "by": "day"},
            "parameter 'by': 'day' is not one of member, site, month, category",
        ),
        (
            "sessions",
            {**OCTOBER, "limit": "0"},
            "parameter 'limit': '0' is not a whole number from 1 to 100000",
        ),
        (
            "sessions",
            {**OCTOBER, "offset": "-1"},
            "parameter 'offset': '-1' is not a whole number from 0 to 1000000000000",
        ),
        ("devices", {"format": "ods"}, "parameter 'format': 'ods' is not one of json, csv, xlsx"),
        (
            "occupancy",
            {"sit": "murat"},
            "unknown parameter 'sit' (this call takes site, format)",
        ),
    ],
)
def test_bad_parameters_are_400_naming_them(
    client: FlaskClient, path: str, params: dict[str, str], error: str
) -> None:
    assert body(get(client, path, **params), 400) == {"error": error}


def test_every_report_is_empty_on_an_empty_hub(client: FlaskClient) -> None:
    assert body(get(client, "sessions", **OCTOBER))["sessions"] == []
    assert body(get(client, "billing", month="2026-10")) == {
        "month": "2026-10",
        "closed": False,
        "closed_at": None,
        "lines": [],
        "members": [],
        "total_eur": 0.0,
    }
    evaluation = body(get(client, "evaluation", **OCTOBER))
    assert (evaluation["sites"], evaluation["occupancy_rate"], evaluation["by_site"]) == (
        0,
        None,
        [],
    )
    assert table(get(client, "usage", format="csv", **OCTOBER)) == [
        ["member_id", "sessions", "hours"]
    ]
