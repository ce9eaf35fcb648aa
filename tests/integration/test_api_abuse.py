"""The API under abuse, through Flask's test client on SQLite and PostgreSQL: parameters
nobody should send, guessed tokens, oversize bodies, formulas hidden in device statuses,
and the headers that keep personal data out of caches and frames."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import TestResponse

from hub.api.services import EXTENSION, Services
from hub.api.throttle import FailedAuth
from hub.config import HubConfig, token_fingerprint
from hub.people.imports import import_sites
from hub.store.devices import record_status
from hub.store.models import AuditEntry
from hub.web.app import create_app
from hub.web.headers import API_POLICY, PAGE_POLICY
from telecentre import wire

DEPARTMENT = "department-token-0001"
ALICE = "alice-department-token"
TOKENS: dict[str, Any] = {
    DEPARTMENT: "department",
    ALICE: {"role": "department", "name": "alice"},
    "animator-murat-token-01": "animator:murat",
}
SITES = """\
sites:
  - id: murat
    name: "=HYPERLINK(\\"http://evil.example\\")"
    spaces: [{id: plateau, kind: open_space, positions: 6}]
"""
MIB = 1024 * 1024

#: Every API route but health, with parameters it accepts.
ROUTES: list[tuple[str, str, str]] = [
    ("GET", "occupancy", "site=murat"),
    ("GET", "sessions", "from=2026-10-01&to=2026-10-31&site=murat&member=M001&limit=10"),
    ("GET", "usage", "from=2026-10-01&to=2026-10-31&by=site"),
    ("GET", "billing", "month=2026-10&site=murat"),
    ("GET", "evaluation", "from=2026-10-01&to=2026-10-31"),
    ("GET", "devices", "site=murat"),
    ("POST", "sites/import", ""),
    ("POST", "members/import", ""),
    ("POST", "events/import", ""),
]


@pytest.fixture
def app(sessions: sessionmaker[Session]) -> Flask:
    with sessions.begin() as session:
        import_sites(session, SITES)
    return create_app(HubConfig(api_tokens=TOKENS), sessionmaker=sessions, mqtt_up=lambda: True)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def call(
    client: FlaskClient,
    method: str,
    path: str,
    query: str = "",
    token: str = DEPARTMENT,
    data: bytes = b"",
    address: str = "192.0.2.10",
    headers: dict[str, str] | None = None,
) -> TestResponse:
    """`query` is sent as written, so that percent-encoded tricks reach the hub unchanged."""
    return client.open(
        f"/api/v1/{path}" + (f"?{query}" if query else ""),
        method=method,
        data=data,
        headers={"Authorization": f"Bearer {token}", **(headers or {})},
        environ_base={"REMOTE_ADDR": address},
    )


def refusal(response: TestResponse, status: int = 400) -> str:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert isinstance(error, str) and len(error.split()) >= 3, error  # a sentence, not a code
    return error


# --- Bad parameters: 400 with a sentence, never 500 -------------------------------------------

#: (what the value holds, query added to a route's good ones). Repeated keys and control
#: characters are refused on every route, whichever parameter carries them.
POISONS = [
    ("a repeated key", "format=json&format=csv"),
    ("a percent-encoded newline", "format=json%0a"),
    ("a percent-encoded NUL", "format=json%00"),
    ("a percent-encoded carriage return", "format=csv%0d"),
    ("a key that is not a parameter", "format=json&%0aformat=csv"),
    ("an overlong value", "format=" + "j" * 500),
]


@pytest.mark.parametrize(("method", "path", "good"), ROUTES)
@pytest.mark.parametrize(("what", "poison"), POISONS)
def test_every_route_refuses_poisoned_parameters_with_a_sentence(
    client: FlaskClient, method: str, path: str, good: str, what: str, poison: str
) -> None:
    query = f"{good}&{poison}" if good else poison
    error = refusal(call(client, method, path, query))
    assert "parameter" in error, what


@pytest.mark.parametrize(
    ("path", "query", "error"),
    [
        # Dates out of range overflowed a conversion to instants: 500 before.
        ("sessions", "from=0001-01-01&to=2026-10-31",
         "parameter 'from': 0001-01-01 is outside 2000-01-01 to 2100-12-31"),
        ("usage", "from=2026-10-01&to=9999-12-31",
         "parameter 'to': 9999-12-31 is outside 2000-01-01 to 2100-12-31"),
        ("evaluation", "from=1999-12-31&to=2026-10-31",
         "parameter 'from': 1999-12-31 is outside 2000-01-01 to 2100-12-31"),
        ("sessions", "from=2026-10-01%0a&to=2026-10-31",
         "parameter 'from' holds U+000A (a control character) at position 11: such characters "
         "are refused"),
        ("sessions", "from=%2B2026-10-01&to=2026-10-31",
         "parameter 'from': '+2026-10-01' is not a date (YYYY-MM-DD)"),
        ("sessions", "from=20261001&to=2026-10-31",
         "parameter 'from': '20261001' is not a date (YYYY-MM-DD)"),
        # A month with a trailing newline answered an empty invoice before.
        ("billing", "month=2026-12%0a",
         "parameter 'month' holds U+000A (a control character) at position 8: such characters "
         "are refused"),
        ("billing", "month=2026-12%20", "parameter 'month': '2026-12 ' is not a month (YYYY-MM)"),
        ("billing", "month=0001-01", "parameter 'month': 0001-01 is outside 2000-01 to 2100-12"),
        ("billing", "month=2026-1", "parameter 'month': '2026-1' is not a month (YYYY-MM)"),
        ("billing", "month=2026-10&month=2026-11",
         "parameter 'month': given 2 times; give it once"),
        ("occupancy", "site=murat&site=ydes", "parameter 'site': given 2 times; give it once"),
        ("occupancy", "site=..%2Fmurat",
         "parameter 'site': '../murat' is not a site id (lower-case letters, digits and '-')"),
        ("devices", "site=murat%23",
         "parameter 'site': 'murat#' is not a site id (lower-case letters, digits and '-')"),
        ("devices", "site=Murat",
         "parameter 'site': 'Murat' is not a site id (lower-case letters, digits and '-')"),
        ("sessions", "from=2026-10-01&to=2026-10-31&member=M001%27--",
         "parameter 'member': \"M001'--\" is not a member id (letters, digits, '.', '_', '-')"),
        ("sessions", "from=2026-10-01&to=2026-10-31&limit=1e3",
         "parameter 'limit': '1e3' is not a whole number from 1 to 100000"),
        ("sessions", "from=2026-10-01&to=2026-10-31&limit=%D9%A3",
         "parameter 'limit': '٣' is not a whole number from 1 to 100000"),
        ("sessions", "from=2026-10-01&to=2026-10-31&offset=" + "9" * 40,
         "parameter 'offset': '" + "9" * 40 + "' is not a whole number from 0 to 1000000000000"),
        ("sessions", "from=2026-10-01&to=2026-10-31&limit=%2B5",
         "parameter 'limit': '+5' is not a whole number from 1 to 100000"),
        ("sites/import", "site=murat", "unknown parameter 'site' (this call takes format)"),
    ],
)  # fmt: skip
def test_bad_values_are_400_naming_the_parameter(
    client: FlaskClient, path: str, query: str, error: str
) -> None:
    method = "POST" if path.endswith("import") else "GET"
    assert refusal(call(client, method, path, query)) == error


def test_percent_encoded_good_values_are_read_as_decoded(client: FlaskClient) -> None:
    answer = call(client, "GET", "billing", "month=2026-1%30&site=%6Durat")
    assert answer.status_code == 200
    assert answer.get_json()["month"] == "2026-10"


def test_health_never_fails_on_a_strange_query(client: FlaskClient) -> None:
    assert client.get("/api/v1/health?x=%20&x=%3B&y").status_code == 200
    # A NUL is refused by the gate every request goes through (hub/web/text_gate.py).
    assert client.get("/api/v1/health?x=%00&x=%0a").status_code == 400


# --- Tokens: failed authentications are slowed down per address -------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def services(app: Flask) -> Services:
    found: Services = app.extensions[EXTENSION]
    return found


def test_ten_wrong_tokens_in_a_minute_lock_the_address_out(app: Flask) -> None:
    clock = Clock()
    services(app).failed_auth = FailedAuth(limit=10, window_s=60, clock=clock)
    client = app.test_client()
    for guess in range(10):
        refusal(call(client, "GET", "occupancy", token=f"guess-{guess:016d}"), 401)
        clock.now += 1
    locked = call(client, "GET", "occupancy")  # even the right token, now
    assert refusal(locked, 429).startswith("too many failed authentications from this address")
    assert locked.headers["Retry-After"] == "50"  # the first failure leaves the window then
    assert refusal(call(client, "POST", "sites/import", data=SITES.encode()), 429)
    # Another address is not held back by this one's guesses.
    assert call(client, "GET", "occupancy", address="192.0.2.99").status_code == 200
    clock.now += 50
    assert call(client, "GET", "occupancy").status_code == 200
    # The window slides: one more failure makes ten in the last minute again.
    refusal(call(client, "GET", "occupancy", token="guess-again-00000000"), 401)
    assert call(client, "GET", "occupancy").headers["Retry-After"] == "1"


def test_a_missing_header_is_not_counted_as_a_guess(app: Flask) -> None:
    client = app.test_client()
    for _ in range(20):
        assert client.get("/api/v1/occupancy").status_code == 401
    assert call(client, "GET", "occupancy").status_code == 200


def test_the_failure_table_stays_bounded() -> None:
    failures = FailedAuth(limit=3, window_s=60, max_addresses=100, clock=Clock())
    for number in range(1000):
        failures.failed(f"10.0.{number // 256}.{number % 256}")
    assert len(failures._failures) <= 100


# --- Audit: every import names its token ------------------------------------------------------


def audit(sessions: sessionmaker[Session]) -> list[tuple[str, dict[str, Any]]]:
    with sessions() as session:
        rows = session.execute(select(AuditEntry.actor, AuditEntry.detail).order_by(AuditEntry.id))
        return [(actor, detail) for actor, detail in rows]


def test_every_import_is_audited_with_the_tokens_name(
    client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    sites = call(client, "POST", "sites/import", token=ALICE, data=SITES.encode())
    assert sites.status_code == 200
    members = "member_id,last_name,first_name,email,category,pass_since,pass_until,badges\n"
    members += "M001,Durand,Anne,,independent,,,04A2B3C4\n"
    assert call(client, "POST", "members/import", data=members.encode()).status_code == 200
    event = wire.badge_event(
        site="murat", device="murat-door", badge="04A2B3C4", reader="entrance",
        direction="in", access="granted", clock_synced=True,
    )  # fmt: skip
    event |= {"seq": 1, "ts": "2026-10-05T09:00:00+02:00"}
    lines = wire.encode(event) + b"\nnot json\n"
    assert call(client, "POST", "events/import", token=ALICE, data=lines).status_code == 200
    entries = [entry for entry in audit(sessions) if entry[1].get("kind")]
    assert entries == [
        ("api:alice", {"kind": "sites", "sites": [], "created": 0, "updated": 0}),
        (
            f"api:department#{token_fingerprint(DEPARTMENT)}",
            {"kind": "members", "sites": ["murat"], "created": 1, "updated": 0},
        ),
        (
            "api:alice",
            {"kind": "events", "sites": [], "accepted": 1, "duplicates": 0, "rejected": 1},
        ),
    ]
    assert all(DEPARTMENT not in actor for actor, _ in entries)


# --- Bodies: each route takes its own size ----------------------------------------------------


def test_each_route_takes_a_body_of_its_own_size(
    client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    comment = b"#" * (MIB + 1)  # a YAML comment: a valid sites file, were it small enough
    assert refusal(call(client, "POST", "sites/import", data=comment), 413) == (
        "the body is larger than this hub accepts"
    )
    # The same size is fine for members (and read: it is not a members file).
    assert refusal(call(client, "POST", "members/import", data=comment), 422)
    assert call(client, "POST", "events/import", data=b"\n" * (2 * MIB)).status_code == 200
    # A report takes no body: a large one is refused before the token is even looked at.
    big = call(client, "GET", "occupancy", token="nobody-at-all-0000", data=b"x" * (65 * 1024))
    assert refusal(big, 413)


# --- Exports: no formula from outside input ---------------------------------------------------

FORMULA = "=cmd|' /C calc'!A0"


def test_a_formula_in_a_device_status_comes_out_inert_in_the_csv(
    client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    status = wire.parse_status(
        json.dumps(
            {"v": 1, "device": "murat-door", "site": "murat", "state": "online",
             "ts": "2026-10-07T08:00:00+00:00", "version": FORMULA, "queue": 0}
        )
    )  # fmt: skip
    with sessions.begin() as session:
        record_status(session, status, datetime(2026, 10, 7, 8, tzinfo=UTC))
    answer = call(client, "GET", "devices", "format=csv")
    assert answer.status_code == 200
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    assert rows[0]["version"] == "'" + FORMULA
    # JSON is data, not a spreadsheet: it carries the text as sent.
    assert call(client, "GET", "devices").get_json()["devices"][0]["version"] == FORMULA


# --- Headers ----------------------------------------------------------------------------------


def test_every_api_answer_is_kept_out_of_caches_and_frames(client: FlaskClient) -> None:
    answers = [
        client.get("/api/v1/health"),
        call(client, "GET", "occupancy"),
        call(client, "GET", "devices", "format=csv"),
        call(client, "GET", "occupancy", token="nobody-at-all-0000"),
        call(client, "GET", "billing", "month=2026-13"),
        call(client, "GET", "nowhere"),
    ]
    for answer in answers:
        assert answer.headers["Cache-Control"] == "no-store", answer.request.path
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Content-Security-Policy"] == API_POLICY
        assert "Server" not in answer.headers


def test_pages_outside_the_api_get_a_strict_policy(client: FlaskClient) -> None:
    page = client.get("/console/nowhere")
    assert page.status_code == 404
    assert page.headers["Content-Security-Policy"] == PAGE_POLICY
    assert "frame-ancestors 'none'" in PAGE_POLICY and "'unsafe-inline'" not in PAGE_POLICY
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("method", ["POST", "PATCH"])
@pytest.mark.parametrize("number", ["9" * 25, str(2**31), "500224950945"])
def test_an_id_too_large_for_the_store_is_no_such_thing(
    client: FlaskClient, method: str, number: str
) -> None:
    """Ids are 32-bit integers in the stores: a larger one overflowed PostgreSQL (a 500
    Schemathesis found) and is now "no such session"."""
    path = f"sessions/{number}" + ("/check-out" if method == "POST" else "")
    assert call(client, method, path).status_code == 404
