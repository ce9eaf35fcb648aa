"""`telecentre-hub mail test` and `mail list` as an installer runs them, against a real SMTP
server (aiosmtpd): the test e-mail arrives, or the reason it did not is printed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from hub.config import HubConfig
from hub.mail import queue
from hub.store import make_engine, make_sessionmaker, migrate
from hub.store.models import utcnow
from tests.mail_server import MailServer

HUB = str(Path(sys.executable).parent / "telecentre-hub")


def run(tmp_path: Path, mail: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "hub.yaml"
    config.write_text(yaml.safe_dump({"state_dir": str(tmp_path / "state"), "mail": mail}))
    return subprocess.run(
        [HUB, "--config", str(config), "mail", *args],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_a_test_email_arrives_or_says_why_not(tmp_path: Path, mail_server: MailServer) -> None:
    sent = run(tmp_path, mail_server.settings(), "test", "lea@murat.example")
    assert sent.returncode == 0, sent.stderr
    assert (
        sent.stdout.strip()
        == f"sent to lea@murat.example through 127.0.0.1:{mail_server.port} (none)"
    )
    [message] = mail_server.inbox("lea@murat.example")
    assert message["Subject"] == "Essai d'envoi des Télécentres CyberCantal"
    assert "les alertes vous parviendront aussi" in message.get_content()
    mail_server.stop()
    refused = run(tmp_path, mail_server.settings(), "test", "lea@murat.example")
    assert refused.returncode == 1
    assert "not sent" in refused.stderr and "Connection refused" in refused.stderr


def test_the_queue_from_a_shell(tmp_path: Path, mail_server: MailServer) -> None:
    url = f"sqlite:///{tmp_path / 'state' / 'hub.db'}"
    (tmp_path / "state").mkdir()
    migrate(url)
    engine = make_engine(url)
    with make_sessionmaker(engine).begin() as session:
        queue.enqueue(session, "lea@murat.example", "Porte forcée", "…")
        given_up = queue.enqueue(session, "nobody@murat.example", "Porte hors ligne", "…")
        queue.mark_refused(session, given_up, "550 No such user", utcnow(),
                           HubConfig().mail, final=True)  # fmt: skip
    engine.dispose()
    listed = run(tmp_path, mail_server.settings(), "list")
    assert listed.returncode == 1  # something was given up: a script can tell
    lines = [line.split("\t") for line in listed.stdout.splitlines()]
    assert [(line[0], line[2], line[-1]) for line in lines] == [
        ("waiting", "lea@murat.example", "Porte forcée"),
        ("failed", "nobody@murat.example", "550 No such user"),
    ]
    assert listed.stderr.strip().splitlines()[-1] == "1 waiting, 1 given up"
