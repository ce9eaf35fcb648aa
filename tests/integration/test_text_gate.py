"""One gate for text (hub/web/text_gate.py, telecentre/text.py), on SQLite and PostgreSQL:
a NUL or another control character anywhere a request carries text is a 400 naming where,
an import names the line, an MQTT payload is one rejected event; never a 500 (PostgreSQL
refuses NUL in text), never a batch stored again one by one. Ids are matched whole."""

from __future__ import annotations

import json
import logging
import subprocess
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import TestResponse

from hub.config import HubConfig, Mqtt
from hub.intake.ingest import Ingest
from hub.people.imports import import_members, import_sites
from hub.store.models import Event, RejectedEvent
from hub.web.app import create_app
from telecentre import wire
from tests.console import add_user, client_sign_in, csrf_token
from tests.servers import Mosquitto
from tests.waiting import wait_until

ADMIN_TOKEN = "admin-token-000000001"
SITES = """\
sites:
  - id: murat
    name: La Cocotte Numérique
    spaces: [{id: plateau, kind: open_space, positions: 6}]
"""
MEMBERS = (
    "member_id,last_name,first_name,email,category,pass_since,pass_until,badges\n"
    "M0001,Durand,Anne,,independent,,,04A2B3C4\n"
)
HEADER = MEMBERS.splitlines()[0]


@pytest.fixture
def app(sessions: sessionmaker[Session]) -> Flask:
    with sessions.begin() as session:
        import_sites(session, SITES)
        import_members(session, MEMBERS)
    add_user(sessions, "ada", "admin")
    return create_app(
        HubConfig(api_tokens={ADMIN_TOKEN: "admin"}), sessionmaker=sessions, mqtt_up=lambda: True
    )


@pytest.fixture
def admin(app: Flask) -> FlaskClient:
    client = app.test_client()
    assert client_sign_in(client, "ada") == 302
    return client


def api(
    app: Flask, method: str, path: str, data: bytes | str = b"", content_type: str | None = None
) -> TestResponse:
    return app.test_client().open(
        f"/api/v1/{path}",
        method=method,
        data=data,
        content_type=content_type,
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )


def refused(answer: TestResponse) -> str:
    assert answer.status_code == 400, answer.get_data(as_text=True)[:500]
    return answer.get_data(as_text=True)


@pytest.mark.parametrize(
    "path",
    [
        "/members/?q=%00",
        "/members/?q=a%01b",
        "/sessions/?member=%00",
        "/audit/?actor=%00",
        "/audit/?site=%00",
        "/members/M00%0001",
        "/admin/users/%00",
        "/members/enrol/04%00A2",
        "/board/mur%00at",
        "/members/?q%00=x",
    ],
)
def test_a_nul_in_a_console_address_is_a_400_page_in_french(admin: FlaskClient, path: str) -> None:
    answer = admin.get(path, headers={"Accept-Language": "fr"})
    text = refused(answer)
    assert "caractère que le hub refuse" in text
    assert answer.headers["Cache-Control"] == "no-store"


def test_a_nul_in_a_console_form_is_a_400(admin: FlaskClient) -> None:
    form = admin.get("/members/new").text
    answer = admin.post(
        "/members/new",
        data={"csrf_token": csrf_token(form), "member_id": "M0002", "last_name": "Du\x00pont"},
    )
    assert "caractère que le hub refuse" in refused(answer)
    # Line breaks are what a text area sends: they pass the gate (the form's own rules apply).
    answer = admin.post(
        "/members/new",
        data={"csrf_token": csrf_token(form), "member_id": "M0002", "last_name": "Du\r\npont"},
    )
    assert answer.status_code in (200, 302)


def test_a_nul_login_counts_as_a_failed_attempt_then_429_never_500(app: Flask) -> None:
    client = app.test_client()
    statuses = []
    for _ in range(25):
        token = csrf_token(client.get("/login").text)
        answer = client.post(
            "/login", data={"login": "ada\x00", "password": "x", "csrf_token": token}
        )
        statuses.append(answer.status_code)
    assert statuses == [400] * 5 + [429] * 20
    # The account's limit holds for the right password too, until the minute has passed.
    assert client_sign_in(client, "ada") == 429


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "sessions", {"member_id": "M0001", "site": "murat",
                              "at": "2026-11-17T09:00+01:00", "reason": "oubli\u0000"}),
        ("POST", "sessions", {"member_id": "M0001", "site": "murat",
                              "at": "2026-11-17T09:00+01:00", "reason": "\ud800"}),
        ("POST", "sessions", {"member_id": "M0001", "site": "murat",
                              "at": "2026-11-17T09:00+01:00", "reason": "x", "n": float("nan")}),
    ],
)  # fmt: skip
def test_a_json_body_with_a_nul_a_surrogate_or_nan_is_a_400(
    app: Flask, method: str, path: str, body: dict[str, Any]
) -> None:
    answer = api(app, method, path, json.dumps(body), "application/json")
    error = json.loads(refused(answer))["error"]
    assert error.startswith("the body is not JSON this hub accepts:"), error


def test_a_json_integer_of_4300_digits_is_a_400(app: Flask) -> None:
    body = '{"member_id": "M0001", "site": "murat", "at": "x", "reason": "x", "n": %s}' % (
        "9" * 4400
    )
    error = json.loads(refused(api(app, "POST", "sessions", body, "application/json")))["error"]
    assert "4400 digits is longer than 30" in error


@pytest.mark.parametrize(
    "query",
    ["member=M0001'--", "member=M0001%0a", "site=murat'--", "badge=04A2B3C4'--", "member=%00"],
)
def test_the_events_list_matches_ids_whole(app: Flask, query: str) -> None:
    error = json.loads(refused(api(app, "GET", f"events?{query}")))["error"]
    assert error.startswith("parameter '"), error
    assert api(app, "GET", "events?member=M0001&site=murat&badge=04:a2:b3:c4").status_code == 200


def test_applying_an_event_whose_id_holds_a_nul_is_a_400_and_an_odd_id_a_404(app: Flask) -> None:
    assert "U+0000" in refused(api(app, "POST", "events/ab%00cd/apply"))
    answer = api(app, "POST", "events/%E2%80%AEevil/apply")
    assert answer.status_code == 400  # a bidirectional override
    answer = api(app, "POST", "events/ab'cd/apply")
    assert answer.status_code == 404, answer.text


def test_a_nul_in_the_events_import_is_a_rejected_line(
    app: Flask, sessions: sessionmaker[Session]
) -> None:
    good = wire.badge_event(
        site="murat", device="murat-door", badge="04A2B3C4", reader="entrance",
        direction="toggle", access="granted", clock_synced=True,
    ) | {"seq": 1}  # fmt: skip
    lines = [
        json.dumps(good),
        json.dumps(good | {"id": "evil\u0000id", "seq": 2}),
        json.dumps(good | {"id": "x2", "seq": 3, "note": "a\u0000b"}),
        json.dumps(good | {"id": "x3", "seq": 4})[:-1] + ', "n": ' + "7" * 4400 + "}",
        json.dumps(good | {"id": "x4", "seq": 5}).replace('"seq": 5', '"seq": NaN'),
        json.dumps(good | {"id": "\u202eevil<script>", "seq": 6}),
        '{"v": 1, "id": "raw\x00nul"}',
        json.dumps(good | {"id": "evil<script>", "seq": 7}),
    ]
    answer = api(app, "POST", "events/import", "\n".join(lines), "application/x-ndjson")
    assert answer.status_code == 200, answer.text
    body = answer.get_json()
    assert body["accepted"] == 1
    errors = {bad["line"]: bad["error"] for bad in body["rejected"]}
    assert sorted(errors) == [2, 3, 4, 5, 6, 7, 8]
    assert "U+0000 (a control character) at position 5 of 'evil\\x00id'" in errors[2]
    assert "U+0000" in errors[3]
    assert "digits is longer than 30" in errors[4]
    assert "NaN is not a number JSON allows" in errors[5]
    assert "U+202E (a bidirectional override)" in errors[6]
    assert "field 'id': String should match pattern" in errors[8]
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Event)) == 1
        payloads = session.scalars(select(RejectedEvent.payload)).all()
    assert not any("\x00" in payload for payload in payloads)


def test_a_nul_in_the_members_import_names_its_line(app: Flask) -> None:
    text = f"{HEADER}\nM0002,Du\x00pont,Marc,,independent,,,\nM0003,Roux,Léa\x01,,independent,,,\n"
    answer = api(app, "POST", "members/import", text, "text/csv")
    assert answer.status_code == 422, answer.text
    nul, start = "holds U+0000 (a control character)", "holds U+0001 (a control character)"
    assert answer.get_json()["lines"] == [
        {"line": 2, "field": "last_name", "error": f"{nul} at position 3"},
        {"line": 3, "field": "first_name", "error": f"{start} at position 4"},
    ]


@pytest.mark.parametrize(
    ("yaml_text", "error"),
    [
        ('sites:\n  - id: murat\n    name: "La\\0 Cocotte"\n',
         "holds U+0000 (a control character) at position 3"),
        ("sites:\n  - id: murat\n    name: La\x00Cocotte\n", "not valid YAML"),
        ("sites:\n  - &s {id: murat, name: M}\n  - *s\n", "alias *s refused"),
        ("sites:\n  - id: murat\n    name: M\n    rounding_min: " + "1" * 4400 + "\n",
         "a number of 4400 digits is longer than any field takes"),
    ],
)  # fmt: skip
def test_the_sites_import_refuses_nul_aliases_and_huge_numbers(
    app: Flask, yaml_text: str, error: str
) -> None:
    answer = api(app, "POST", "sites/import", yaml_text, "application/yaml")
    assert answer.status_code == 422, answer.text
    assert error in answer.get_json()["lines"][0]["error"]


def test_a_thousand_aliases_of_one_site_are_refused_before_they_expand(app: Flask) -> None:
    text = "base: &b {id: murat, name: M, spaces: [{id: p, kind: office, positions: 1}]}\n"
    text += "sites: [" + ", ".join(["*b"] * 3000) + "]\n"
    answer = api(app, "POST", "sites/import", text, "application/yaml")
    assert answer.status_code == 422
    assert len(answer.get_json()["lines"]) == 3000


def test_one_nul_event_over_mqtt_is_rejected_alone_and_its_batch_stored_at_once(
    broker: Mosquitto,
    sessions: sessionmaker[Session],
    app: Flask,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ingest = Ingest(Mqtt(port=broker.port, client_id="hub-test"), sessions, batch_size=50)
    topic = wire.events_topic("murat", "murat-door")
    events = [
        wire.badge_event(
            site="murat", device="murat-door", badge="04A2B3C4", reader="entrance",
            direction="toggle", access="granted", clock_synced=True,
        ) | {"seq": seq}
        for seq in range(20)
    ]  # fmt: skip
    events[7]["id"] = "evil\u0000id"
    events[9]["note"] = "\u0000"
    lines = [json.dumps(event) for event in events]
    caplog.set_level(logging.WARNING, logger="hub.intake.ingest")
    ingest.start()
    try:
        assert ingest.subscribed.wait(15), "the hub never subscribed"
        subprocess.run(
            ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-t", topic,
             "-q", "1", "-l"],
            input="\n".join(lines) + "\n" + "raw\x00nul\n", text=True, check=True, timeout=60,
        )  # fmt: skip
        wait_until(lambda: ingest.counters.accepted == 18, timeout=60, message="not stored")
        wait_until(lambda: ingest.counters.rejected == 3, timeout=60, message="not rejected")
    finally:
        ingest.stop()
    assert "one by one" not in caplog.text
    with sessions() as session:
        reasons = session.scalars(select(RejectedEvent.reason)).all()
    assert sorted(reasons) == [
        "payload is not UTF-8 JSON: Expecting value: line 1 column 1 (char 0)",
        "payload refused: U+0000 (a control character) at position 1 of '\\x00'",
        "payload refused: U+0000 (a control character) at position 5 of 'evil\\x00id'",
    ]


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "application/json"])
def test_imports_labelled_as_curl_labels_them_are_read_as_files(
    app: Flask, content_type: str
) -> None:
    """`curl --data-binary @file` labels the body a form: an import reads it as its file all
    the same, and its own reader (not the gate) names a bad line."""
    sites = SITES.replace("murat", "ydes").replace("La Cocotte Numérique", "Ydes")
    assert api(app, "POST", "sites/import", sites, content_type).get_json() == {
        "created": 1,
        "updated": 0,
    }
    answer = api(app, "POST", "members/import", f"{HEADER}\nM0002,Du\x00pont,,,other,,,\n",
                 content_type)  # fmt: skip
    assert answer.status_code == 422, answer.text
    assert answer.get_json()["lines"][0]["field"] == "last_name"
