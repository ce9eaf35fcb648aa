"""Who may open what in the console, route by route, on SQLite and PostgreSQL: anonymous,
an admin, the department, an animator of Murat (on Murat, and on Mauriac which is not its
site) and a disabled user. Also: the sign-in itself (wrong password, rate limit, CSRF, idle
timeout) and API tokens made in the console."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.people import users
from hub.people.imports import import_sites
from hub.store.models import Alarm, ApiToken, AuditEntry, Device, DoorCommand, User
from tests.console import PASSWORD, add_user, client_sign_in, csrf_token
from tests.servers import REPO

SITES = (REPO / "deploy" / "demo" / "sites.yaml").read_text(encoding="utf-8")
MURAT, MAURIAC = "murat", "mauriac"
MURAT_NAME, MAURIAC_NAME = "La Cocotte Numérique", "Télécentre de la médiathèque"


@dataclass(frozen=True)
class World:
    alarms: dict[str, int]
    commands: dict[str, str]


@pytest.fixture
def world(sessions: sessionmaker[Session], console_app: Flask) -> World:
    now = datetime.now(UTC)
    with sessions.begin() as session:
        import_sites(session, SITES)
        alarms, commands = {}, {}
        for site in (MURAT, MAURIAC):
            session.add(Device(id=f"{site}-door", site=site, state="offline"))
            alarm = Alarm(
                event_id=f"alarm-{site}", site_id=site, device=f"{site}-door", door="main",
                kind="door_forced", at=now,
            )  # fmt: skip
            command = DoorCommand(
                id=f"command-{site}", site_id=site, device=f"{site}-door", door="main",
                reason=f"visit at {site}", requested_by="user:test", requested_at=now,
            )  # fmt: skip
            session.add_all([alarm, command])
            session.add(AuditEntry(actor="user:test", action="door_opened", site_id=site))
            session.flush()
            alarms[site], commands[site] = alarm.id, command.id
    add_user(sessions, "ada", "admin")
    add_user(sessions, "dora", "department")
    add_user(sessions, "lea", "animator", [MURAT])
    add_user(sessions, "paul", "animator", [MURAT])
    with sessions.begin() as session:
        users.set_active(session, "paul", False, actor="test")
    return World(alarms, commands)


def signed_in(console_app: Flask, who: str | None) -> FlaskClient:
    client = console_app.test_client()
    if who is not None:
        assert client_sign_in(client, who) == 302
    return client


# (method, path, status per role): {A} is Murat (the animator's site), {B} Mauriac.
ANON, ADMIN, DEPT, ANIM = "anonymous", "ada", "dora", "lea"
ROUTES: list[tuple[str, str, dict[str, int]]] = [
    ("GET", "/", {ANON: 302, ADMIN: 200, DEPT: 200, ANIM: 200}),
    ("GET", "/board/{A}", {ANON: 302, ADMIN: 200, DEPT: 200, ANIM: 200}),
    ("GET", "/board/{B}", {ANON: 302, ADMIN: 200, DEPT: 200, ANIM: 404}),
    ("GET", "/board/nowhere", {ANON: 302, ADMIN: 404, DEPT: 404, ANIM: 404}),
    ("GET", "/board/{A}/door", {ANON: 302, ADMIN: 200, DEPT: 200, ANIM: 200}),
    ("GET", "/board/{B}/door", {ANON: 302, ADMIN: 200, DEPT: 200, ANIM: 404}),
    ("POST", "/board/{B}/door", {ANON: 302, ADMIN: 200, DEPT: 200, ANIM: 404}),
    ("GET", "/board/{A}/door/{command_A}", {ANON: 302, ADMIN: 200, DEPT: 200, ANIM: 200}),
    ("GET", "/board/{B}/door/{command_B}", {ANON: 302, ADMIN: 200, DEPT: 200, ANIM: 404}),
    ("GET", "/board/{A}/door/{command_B}", {ANON: 302, ADMIN: 404, DEPT: 404, ANIM: 404}),
    ("POST", "/board/alarms/{alarm_B}/acknowledge", {ANON: 302, ADMIN: 302, DEPT: 302, ANIM: 404}),
    ("POST", "/board/alarms/{alarm_A}/acknowledge", {ANON: 302, ADMIN: 302, DEPT: 302, ANIM: 302}),
    ("GET", "/audit/", {ANON: 302, ADMIN: 200, DEPT: 200, ANIM: 200}),
    ("GET", "/admin/users", {ANON: 302, ADMIN: 200, DEPT: 403, ANIM: 403}),
    ("GET", "/admin/users/new", {ANON: 302, ADMIN: 200, DEPT: 403, ANIM: 403}),
    ("POST", "/admin/users/new", {ANON: 302, ADMIN: 200, DEPT: 403, ANIM: 403}),
    ("GET", "/admin/users/lea", {ANON: 302, ADMIN: 200, DEPT: 403, ANIM: 403}),
    ("POST", "/admin/users/lea/password", {ANON: 302, ADMIN: 422, DEPT: 403, ANIM: 403}),
    ("POST", "/admin/users/dora/disable", {ANON: 302, ADMIN: 302, DEPT: 403, ANIM: 403}),
    ("GET", "/admin/tokens", {ANON: 302, ADMIN: 200, DEPT: 403, ANIM: 403}),
    ("POST", "/admin/tokens", {ANON: 302, ADMIN: 200, DEPT: 403, ANIM: 403}),
    ("POST", "/admin/tokens/1/revoke", {ANON: 302, ADMIN: 404, DEPT: 403, ANIM: 403}),
]


@pytest.mark.parametrize("who", [ANON, ADMIN, DEPT, ANIM, "paul"])
def test_every_console_route_answers_each_role_as_it_may(
    console_app: Flask, world: World, who: str
) -> None:
    if who == "paul":  # disabled: cannot sign in, so every page answers as to anonymous
        client = console_app.test_client()
        assert client_sign_in(client, "paul") == 401
    else:
        client = signed_in(console_app, None if who == ANON else who)
    role = ANON if who == "paul" else who
    wrong = []
    for method, path, expected in ROUTES:
        url = path.format(
            A=MURAT, B=MAURIAC,
            alarm_A=world.alarms[MURAT], alarm_B=world.alarms[MAURIAC],
            command_A=world.commands[MURAT], command_B=world.commands[MAURIAC],
        )  # fmt: skip
        if method == "GET":
            answer = client.get(url)
        else:
            token = csrf_token(client.get("/login" if role == ANON else "/").text)
            answer = client.post(url, data={"csrf_token": token})
        body = answer.get_data(as_text=True)
        if answer.status_code != expected[role]:
            wrong.append(f"{method} {url}: {answer.status_code}, not {expected[role]}")
        elif (
            answer.status_code == 302
            and role == ANON
            and not answer.headers["Location"].startswith("/login")
        ):
            wrong.append(f"{method} {url}: redirected to {answer.headers['Location']}")
        if who == ANIM and (MAURIAC_NAME in body or "visit at mauriac" in body):
            # Nothing of another site shows on an animator's pages, not even in an error.
            wrong.append(f"{method} {url}: shows Mauriac")
    assert wrong == []


def test_an_animator_sees_only_its_sites_on_the_board_the_stream_and_the_log(
    console_app: Flask, world: World
) -> None:
    lea = signed_in(console_app, ANIM)
    board = lea.get("/").get_data(as_text=True)
    assert MURAT_NAME in board and MAURIAC_NAME not in board
    stream = lea.get("/board/stream").get_data(as_text=True)
    assert "event: site" in stream and 'id="site-murat"' in stream
    assert "site-mauriac" not in stream and MAURIAC_NAME not in stream
    log = lea.get("/audit/").get_data(as_text=True)
    row = ">porte ouverte depuis la console</td>"
    assert log.count(row) == 1  # Murat's, not Mauriac's
    assert lea.get(f"/audit/?site={MAURIAC}").get_data(as_text=True).count(row) == 0
    ada = signed_in(console_app, ADMIN).get("/").get_data(as_text=True)
    assert MURAT_NAME in ada and MAURIAC_NAME in ada


def test_an_anonymous_stream_tells_the_page_to_sign_in(console_app: Flask, world: World) -> None:
    answer = console_app.test_client().get("/board/stream")
    assert answer.mimetype == "text/event-stream"
    assert "event: expired\ndata: /login" in answer.get_data(as_text=True)


def test_acknowledging_keeps_who_and_when(
    console_app: Flask, world: World, sessions: sessionmaker[Session]
) -> None:
    lea = signed_in(console_app, ANIM)
    token = csrf_token(lea.get("/").text)
    assert lea.post(f"/board/alarms/{world.alarms[MURAT]}/acknowledge",
                    data={"csrf_token": token}).status_code == 302  # fmt: skip
    with sessions() as session:
        alarm = session.get(Alarm, world.alarms[MURAT])
        assert alarm is not None and alarm.acknowledged_by == "user:lea"
        assert session.get(Alarm, world.alarms[MAURIAC]).acknowledged_at is None  # type: ignore[union-attr]
    assert "Alarme : porte forcée" not in lea.get("/").get_data(as_text=True)


# --- signing in ------------------------------------------------------------------------------


def test_a_form_without_its_csrf_token_is_refused(console_app: Flask, world: World) -> None:
    client = console_app.test_client()
    answer = client.post("/login", data={"login": "ada", "password": PASSWORD})
    assert answer.status_code == 400
    assert "Le formulaire était incomplet ou a expiré" in answer.get_data(as_text=True)
    ada = signed_in(console_app, ADMIN)
    assert ada.post("/admin/users/dora/disable").status_code == 400
    assert ada.post("/logout").status_code == 400
    htmx = ada.post(
        "/admin/users/dora/disable",
        headers={"X-CSRFToken": csrf_token(ada.get("/").text)},
    )
    assert htmx.status_code == 302  # htmx sends the token as a header


def test_a_copy_of_the_session_cookie_is_dead_after_signing_out(
    console_app: Flask, world: World
) -> None:
    ada = signed_in(console_app, ADMIN)
    assert ada.get("/").status_code == 200
    stolen = ada.get_cookie(console_app.config["SESSION_COOKIE_NAME"])
    assert stolen is not None
    assert (
        ada.post("/logout", data={"csrf_token": csrf_token(ada.get("/").text)}).status_code == 302
    )
    replay = console_app.test_client()
    replay.set_cookie(stolen.key, stolen.value)
    answer = replay.get("/")
    assert answer.status_code == 302 and "/login" in answer.headers["Location"]


def test_the_sixth_wrong_password_in_a_minute_is_refused_even_with_the_right_one(
    console_app: Flask, world: World
) -> None:
    client = console_app.test_client()
    for _ in range(5):
        assert client_sign_in(client, "ada", "not the password") == 401
    token = csrf_token(client.get("/login").text)
    refused = client.post(
        "/login", data={"login": "ada", "password": PASSWORD, "csrf_token": token}
    )
    assert refused.status_code == 429
    assert "Trop d&#39;essais manqués" in refused.get_data(as_text=True)
    other = console_app.test_client()
    assert client_sign_in(other, "dora") == 302  # another account from the same address


def test_wrong_password_and_unknown_login_say_the_same(console_app: Flask, world: World) -> None:
    client = console_app.test_client()
    token = csrf_token(client.get("/login").text)
    wrong = client.post("/login", data={"login": "ada", "password": "x" * 12, "csrf_token": token})
    unknown = client.post(
        "/login", data={"login": "zoe", "password": "x" * 12, "csrf_token": token}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert "Identifiant ou mot de passe incorrect." in wrong.get_data(as_text=True)
    assert "Identifiant ou mot de passe incorrect." in unknown.get_data(as_text=True)


def test_an_unknown_login_costs_a_real_hash_check() -> None:
    """The hash an unknown login is checked against is written in the source: it must have
    the hasher's own parameters, or an unknown login would answer faster than a wrong
    password."""
    assert not PasswordHasher().check_needs_rehash(users._DUMMY_HASH)  # as `users._hasher`


def test_the_session_cookie_is_http_only_and_same_site_lax(
    console_app: Flask, world: World
) -> None:
    client = console_app.test_client()
    token = csrf_token(client.get("/login").text)
    answer = client.post("/login", data={"login": "ada", "password": PASSWORD, "csrf_token": token})
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_disabling_a_user_ends_its_open_session(
    console_app: Flask, world: World, sessions: sessionmaker[Session]
) -> None:
    lea = signed_in(console_app, ANIM)
    assert lea.get("/").status_code == 200
    with sessions.begin() as session:
        users.set_active(session, "lea", False, actor="test")
    assert lea.get("/").status_code == 302
    with sessions.begin() as session:
        users.set_active(session, "lea", True, actor="test")
    assert lea.get("/").status_code == 302  # signed out for good: sign in again


def test_a_session_ends_after_the_idle_timeout(console_app: Flask, world: World) -> None:
    lea = signed_in(console_app, ANIM)
    with lea.session_transaction() as cookie:
        cookie["seen"] = int((datetime.now(UTC) - timedelta(minutes=31)).timestamp())
    answer = lea.get("/audit/")
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/login")
    assert lea.get("/").status_code == 302


def test_sign_in_goes_back_to_the_page_asked_for_but_never_elsewhere(
    console_app: Flask, world: World
) -> None:
    client = console_app.test_client()
    for target, landing in [
        ("/audit/", "/audit/"),
        ("https://evil.example/", "/"),
        ("//evil", "/"),
    ]:
        client = console_app.test_client()
        token = csrf_token(client.get("/login").text)
        answer = client.post(
            "/login",
            query_string={"next": target},
            data={"login": "ada", "password": PASSWORD, "csrf_token": token},
        )
        assert answer.headers["Location"] == landing


def test_the_language_is_the_users_choice_then_the_browsers(
    console_app: Flask, world: World, sessions: sessionmaker[Session]
) -> None:
    client = console_app.test_client()
    assert "Se connecter" in client.get("/login").get_data(as_text=True)  # no preference: fr
    english = client.get("/login", headers={"Accept-Language": "en-GB,en;q=0.8"})
    assert "Sign in" in english.get_data(as_text=True)
    ada = signed_in(console_app, ADMIN)
    token = csrf_token(ada.get("/").text)
    ada.post("/language", data={"language": "en", "next": "/", "csrf_token": token})
    page = ada.get("/", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert "Live board" in page and 'lang="en"' in page
    with sessions() as session:
        assert session.scalars(select(User.language).where(User.login == "ada")).one() == "en"


# --- admin pages and API tokens ---------------------------------------------------------------


def test_an_admin_makes_an_animator_who_can_then_sign_in(
    console_app: Flask, world: World, sessions: sessionmaker[Session]
) -> None:
    ada = signed_in(console_app, ADMIN)
    token = csrf_token(ada.get("/admin/users/new").text)
    form = {"login": "marc", "display_name": "Marc", "role": "animator", "password": "court",
            "csrf_token": token, "sites": MAURIAC}  # fmt: skip
    refused = ada.post("/admin/users/new", data=form)
    assert refused.status_code == 200
    assert "un mot de passe a au moins 10 caractères" in refused.get_data(as_text=True)
    assert ada.post("/admin/users/new", data={**form, "password": PASSWORD}).status_code == 302
    marc = signed_in(console_app, "marc")
    assert MAURIAC_NAME in marc.get("/").get_data(as_text=True)
    assert MURAT_NAME not in marc.get("/").get_data(as_text=True)
    with sessions() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "user_created")
                                .where(AuditEntry.actor == "user:ada")).one()  # fmt: skip
        assert entry.detail["after"]["sites"] == [MAURIAC]


def test_a_token_made_in_the_console_is_shown_once_and_opens_only_its_site(
    console_app: Flask, world: World, sessions: sessionmaker[Session]
) -> None:
    ada = signed_in(console_app, ADMIN)
    token = csrf_token(ada.get("/admin/tokens").text)
    page = ada.post(
        "/admin/tokens",
        data={"name": "ecran murat", "role": "animator", "site": MURAT, "csrf_token": token},
    ).get_data(as_text=True)
    match = re.search(r'id="new-token">(tc_[^<]+)<', page)
    assert match is not None
    secret = match.group(1)
    assert secret not in ada.get("/admin/tokens").get_data(as_text=True)  # shown once
    api = console_app.test_client()
    bearer = {"Authorization": f"Bearer {secret}"}
    assert api.get("/api/v1/occupancy", headers=bearer).status_code == 200
    assert api.get(f"/api/v1/occupancy?site={MAURIAC}", headers=bearer).status_code == 403
    with sessions() as session:
        made = session.scalars(select(ApiToken)).one()
        assert made.last_used_at is not None and secret not in made.token_hash
    token = csrf_token(ada.get("/admin/tokens").text)
    assert (
        ada.post(f"/admin/tokens/{made.id}/revoke", data={"csrf_token": token}).status_code == 302
    )
    assert api.get("/api/v1/occupancy", headers=bearer).status_code == 401
