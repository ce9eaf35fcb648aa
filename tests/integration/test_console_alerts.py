"""The console's side of alerts: each user's address, alerts and quiet hours ("My account"),
admins giving an address in the user forms, and the e-mails page only admins open."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from html import unescape

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.config import HubConfig
from hub.mail import queue
from hub.people import users
from hub.people.imports import import_sites
from hub.store.models import AuditEntry
from tests.console import add_user, client_sign_in, csrf_token
from tests.servers import REPO


@pytest.fixture
def store(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    with sessions.begin() as session:
        import_sites(session, (REPO / "deploy" / "demo" / "sites.yaml").read_text("utf-8"))
    add_user(sessions, "ada", "admin")
    add_user(sessions, "lea", "animator", ["murat"], display_name="Léa Martin")
    return sessions


def signed_in(app: Flask, login: str) -> FlaskClient:
    client = app.test_client()
    assert client_sign_in(client, login) == 302
    return client


def account(store: sessionmaker[Session], login: str) -> users.Account:
    with store() as session:
        found = users.account_by_login(session, login)
    assert found is not None
    return found


def test_an_animator_chooses_address_alerts_and_quiet_hours(
    console_app: Flask, store: sessionmaker[Session]
) -> None:
    client = signed_in(console_app, "lea")
    page = client.get("/account/").text
    assert "Sans adresse de courriel, vous ne recevez aucune alerte" in page
    assert "La Cocotte Numérique" in page
    answer = client.post(
        "/account/",
        data={
            "csrf_token": csrf_token(page),
            "email": "lea@murat.example",
            "kinds": ["door_forced", "door_offline"],
            "quiet_start": "22:00",
            "quiet_end": "07:30",
        },
    )
    assert answer.status_code == 302
    assert "Vos choix d'alertes sont enregistrés." in unescape(client.get("/account/").text)
    lea = account(store, "lea")
    assert lea.email == "lea@murat.example"
    assert lea.alert_kinds == ("door_forced", "door_offline")
    assert (lea.quiet_start, lea.quiet_end) == (time(22, 0), time(7, 30))
    with store() as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "user_email_set")
        ).one()
        assert entry.actor == "user:lea" and entry.detail["after"] == {"email": "lea@murat.example"}


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"email": "lea chez murat"}, "lea chez murat n'est pas une adresse de courriel"),
        ({"email": "lea@murat.example", "quiet_start": "22:00"}, "indiquez le début et la fin"),
    ],
)
def test_a_wrong_choice_is_said_beside_its_field_and_nothing_is_saved(
    console_app: Flask, store: sessionmaker[Session], fields: dict[str, str], error: str
) -> None:
    client = signed_in(console_app, "lea")
    token = csrf_token(client.get("/account/").text)
    answer = client.post("/account/", data={"csrf_token": token, **fields})
    assert answer.status_code == 200
    assert error in unescape(answer.text)
    assert account(store, "lea").email is None


def test_an_admin_gives_a_new_user_an_address_and_changes_it(
    console_app: Flask, store: sessionmaker[Session]
) -> None:
    client = signed_in(console_app, "ada")
    token = csrf_token(client.get("/admin/users/new").text)
    made = client.post(
        "/admin/users/new",
        data={
            "csrf_token": token,
            "login": "paul",
            "display_name": "Paul Roux",
            "email": "paul@mauriac.example",
            "role": "animator",
            "sites": ["mauriac"],
            "password": "un mot de passe assez long",
        },
    )
    assert made.status_code == 302
    assert account(store, "paul").email == "paul@mauriac.example"
    edit = client.get("/admin/users/paul").text
    assert 'value="paul@mauriac.example"' in edit
    changed = client.post(
        "/admin/users/paul",
        data={
            "csrf_token": csrf_token(edit),
            "display_name": "Paul Roux",
            "email": "",
            "role": "animator",
            "sites": ["mauriac"],
        },
    )
    assert changed.status_code == 302
    assert account(store, "paul").email is None


def test_the_emails_page_shows_admins_what_waits_and_what_was_given_up(
    console_app: Flask, store: sessionmaker[Session]
) -> None:
    now = datetime.now(UTC)
    settings = HubConfig().mail
    with store.begin() as session:
        queue.enqueue(
            session, "lea@murat.example", "Porte forcée – La Cocotte Numérique (Murat)", "…"
        )
        refused = queue.enqueue(session, "nobody@murat.example", "Porte hors ligne", "…")
        queue.mark_refused(session, refused, "550 5.1.1 No such user here", now, settings,
                           final=True)  # fmt: skip
        sent = queue.enqueue(session, "marc@mauriac.example", "Porte forcée", "…")
        queue.mark_sent(session, sent, now + timedelta(seconds=1))
    assert signed_in(console_app, "lea").get("/admin/mail").status_code == 403
    page = unescape(signed_in(console_app, "ada").get("/admin/mail").text)
    assert "1 courriel en attente" in page
    assert "1 abandonné" in page
    assert "Réponse du serveur : 550 5.1.1 No such user here" in page
    assert "Aucun serveur de courriel n'est configuré" in page
    assert "envoyé" in page


def test_a_user_sends_themselves_one_test_email_at_a_time(
    console_app: Flask, store: sessionmaker[Session]
) -> None:
    client = signed_in(console_app, "lea")
    page = client.get("/account/").text
    assert "M&#39;envoyer un courriel d&#39;essai" not in page  # no address yet
    with store.begin() as session:
        users.set_email(session, "lea", "lea@murat.example", actor="test")
    page = client.get("/account/").text
    for _ in range(2):
        answer = client.post("/account/test", data={"csrf_token": csrf_token(page)})
        assert answer.status_code == 302
    assert "Un courriel d'essai part vers lea@murat.example" in unescape(client.get("/").text)
    with store() as session:
        listed = queue.recent(session)
    assert [(m.to_address, m.subject) for m in listed.messages] == [
        ("lea@murat.example", "Essai d'envoi des Télécentres CyberCantal")
    ]
    assert client.post("/account/test").status_code == 400  # no CSRF token
