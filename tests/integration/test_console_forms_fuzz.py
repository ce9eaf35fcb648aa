"""Every form of the console, found by reading the pages an admin sees, gets odd text in each
of its text fields (hypothesis: NULs, control characters, surrogates' neighbours, emoji,
right-to-left marks, long strings) on SQLite and PostgreSQL: no answer is ever a 500, and
the hub keeps answering. The forms found must cover every POST route of the console, so a
new form cannot escape the test."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.exceptions import HTTPException

from hub.people import api_tokens
from hub.people.imports import import_members, import_sites
from hub.presence.corrections import manual_check_in
from hub.store.models import Alarm, Device, Event
from tests.console import add_user, client_sign_in
from tests.servers import REPO

DEMO = REPO / "deploy" / "demo"
TEXT_TYPES = {"text", "email", "search", "password", "date", "datetime-local", "number", "tel"}
#: Odd text: any character (NUL and controls included), and what people paste.
ODD = st.one_of(
    st.text(max_size=300),
    st.sampled_from(["\x00", "a\x00b", "\u202eevil", "=cmd|' /C calc'!A0", "é" * 5000, " ", ""]),
)


@dataclass
class Form:
    action: str
    fields: dict[str, str] = field(default_factory=dict)
    text_fields: list[str] = field(default_factory=list)


class _Forms(HTMLParser):
    def __init__(self, page: str) -> None:
        super().__init__()
        self.page = page
        self.forms: list[Form] = []
        self._form: Form | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {key: value or "" for key, value in attrs}
        if tag == "form" and a.get("method", "get").lower() == "post":
            self._form = Form(a.get("action") or self.page)
            self.forms.append(self._form)
        elif self._form is not None and a.get("name"):
            name = a["name"]
            if tag == "textarea" or (tag == "input" and a.get("type", "text") in TEXT_TYPES):
                self._form.text_fields.append(name)
                self._form.fields.setdefault(name, a.get("value", ""))
            elif tag == "input" and a.get("type") in ("checkbox", "radio"):
                self._form.fields.setdefault(name, a.get("value", "on"))
            elif tag in ("input", "select"):
                self._form.fields.setdefault(name, a.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None


@pytest.fixture
def admin(console_app: Flask, sessions: sessionmaker[Session]) -> FlaskClient:
    now = datetime.now(UTC)
    with sessions.begin() as session:
        import_sites(session, (DEMO / "sites.yaml").read_text(encoding="utf-8"))
        import_members(session, (DEMO / "members.csv").read_text(encoding="utf-8"))
        session.add(Device(id="murat-door", site="murat", state="online", doors={"main": "closed"}))
        session.add(Alarm(event_id="a1", site_id="murat", device="murat-door", door="main",
                          kind="door_forced", at=now))  # fmt: skip
        manual_check_in(session, member_id="M0001", site_id="murat", at=now - timedelta(hours=1),
                        reason="oubli", actor="test")  # fmt: skip
        api_tokens.add_token(session, "compta", "department", actor="test")
        # A tap of a Pi whose clock read 1970, waiting for an admin (the quarantine page).
        session.add(Event(id="q1", site="murat", device="murat-door", seq=1, type="badge",
                          ts=datetime(1970, 1, 1, tzinfo=UTC), ts_offset_min=0,
                          clock_synced=False, badge="04A1B2C3", reader="entrance",
                          access="granted", direction="in", payload="{}",
                          outcome="quarantined", outcome_reason="too_old"))  # fmt: skip
    add_user(sessions, "ada", "admin", email="ada@example.org")  # "My account" offers a test
    add_user(sessions, "lea", "animator", ["murat"])
    client = console_app.test_client()
    assert client_sign_in(client, "ada") == 302
    return client


#: A month over, with no stay open: the billing page offers to close it.
LAST_MONTH = (datetime.now(UTC).replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
PAGES = [
    "/", "/board/murat", "/board/murat/door", "/members/", "/members/new", "/members/M0001",
    "/sessions/", "/sessions/new", "/sessions/1/check-out", "/sessions/1/correct", "/sites/",
    "/sites/new", "/sites/murat", "/admin/users", "/admin/users/new", "/admin/users/lea",
    "/admin/tokens", "/admin/mail", "/admin/quarantine/", "/account/",
    f"/reports/billing?month={LAST_MONTH}",
]  # fmt: skip
#: The members' space: a member's forms, fuzzed by tests/integration/test_member_space.py.
MEMBER_SPACE = ("member_signin.", "member_space.")


def forms_of(client: FlaskClient) -> list[Form]:
    found: dict[str, Form] = {}
    for page in PAGES:
        answer = client.get(page)
        assert answer.status_code == 200, (page, answer.status_code)
        parser = _Forms(page)
        parser.feed(answer.text)
        for form in parser.forms:
            found.setdefault(form.action, form)
    return list(found.values())


def endpoint(app: Flask, form: Form) -> str:
    try:
        name, _ = app.url_map.bind("hub").match(form.action.split("?")[0], "POST")
    except HTTPException:
        return f"(no route for {form.action})"
    return str(name)


def test_the_forms_found_cover_every_post_route_of_the_console(
    console_app: Flask, admin: FlaskClient
) -> None:
    routes = {
        rule.endpoint
        for rule in console_app.url_map.iter_rules()
        if "POST" in (rule.methods or ())
        and not rule.rule.startswith("/api/")
        and not rule.endpoint.startswith(MEMBER_SPACE)
    }
    covered = {endpoint(console_app, form) for form in forms_of(admin)}
    # The login form shows to signed-out people only (test_sign_in_form_takes_odd_text).
    assert routes - covered == {"auth.login"}


def test_every_form_takes_odd_text_without_a_server_error(
    console_app: Flask, admin: FlaskClient
) -> None:
    forms = [form for form in forms_of(admin) if form.text_fields]
    assert len(forms) >= 8

    @given(odd=ODD)
    @settings(max_examples=10, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    def post_everywhere(odd: str) -> None:
        for form in forms:
            for name in form.text_fields:
                answer = admin.post(form.action, data={**form.fields, name: odd})
                assert answer.status_code < 500, (form.action, name, odd, answer.text[:300])
        assert admin.get("/").status_code == 200  # still signed in, the hub still answering

    post_everywhere()


@given(odd=ODD)
@settings(max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_sign_in_form_takes_odd_text(console_app: Flask, odd: str) -> None:
    client = console_app.test_client()
    parser = _Forms("/login")
    parser.feed(client.get("/login").text)
    form = next(form for form in parser.forms if form.action.split("?")[0] == "/login")
    for name in form.text_fields:
        answer = client.post("/login", data={**form.fields, name: odd})
        assert answer.status_code in (200, 400, 401, 429), (name, odd)
