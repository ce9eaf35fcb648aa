"""Handing e-mails to a real SMTP server (aiosmtpd) over STARTTLS or TLS, with a login whose
password is read from a 0600 file, the server's certificate checked against the configured
authority: what the server says decides whether a message is sent or waits."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.config import Mail
from hub.mail import queue
from hub.mail.worker import MailWorker
from hub.store.models import MailMessage, utcnow
from tests.mail_server import MailServer


@pytest.fixture(params=["starttls", "tls"])
def secure_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MailServer]:
    server = MailServer(tmp_path / "certificates", security=request.param)
    server.start()
    yield server
    server.stop()


def settings(server: MailServer, tmp_path: Path, password: str, **smtp: Any) -> Mail:
    secret = tmp_path / "smtp-password"
    secret.write_text(password + "\n")
    secret.chmod(0o600)
    return Mail.model_validate(
        {
            "smtp": {
                "host": "127.0.0.1",
                "port": server.port,
                "security": server.security,
                "sender": "alertes@cybercantal.example",
                "username": server.login[0],
                "password_file": str(secret),
                "ca_file": str(server.certificates / "ca.crt") if server.certificates else None,
                "timeout_s": 10,
                **smtp,
            }
        }
    )


def send_one(sessions: sessionmaker[Session], mail: Mail) -> MailMessage:
    with sessions.begin() as session:
        queue.enqueue(session, "lea@murat.example", "Porte forcée – Murat", "Vérifiez la porte.")
    MailWorker(sessions, mail).send_due(utcnow())
    with sessions() as session:
        return session.scalars(select(MailMessage)).one()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_over_tls_with_a_login_the_message_is_sent(
    sessions: sessionmaker[Session], secure_server: MailServer, tmp_path: Path
) -> None:
    message = send_one(sessions, settings(secure_server, tmp_path, secure_server.login[1]))
    assert message.sent_at is not None, message.last_error
    [received] = secure_server.inbox("lea@murat.example")
    assert received["Subject"] == "Porte forcée – Murat"
    assert received.get_content().strip() == "Vérifiez la porte."


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("password", "smtp", "said"),
    [
        ("pas le bon", {}, "535"),
        ("mot de passe du relais", {"ca_file": None}, "CERTIFICATE_VERIFY_FAILED"),
    ],
)
def test_a_wrong_password_or_an_unknown_certificate_leaves_the_message_waiting(
    sessions: sessionmaker[Session],
    secure_server: MailServer,
    tmp_path: Path,
    password: str,
    smtp: dict[str, Literal[None]],
    said: str,
) -> None:
    message = send_one(sessions, settings(secure_server, tmp_path, password, **smtp))
    assert (message.sent_at, message.failed_at, message.attempts) == (None, None, 1)
    assert said in (message.last_error or "")
    assert secure_server.inbox("lea@murat.example") == []
