"""`telecentre-hub user …` and `token …` as an operator runs them: the first admin from the
command line (password on standard input), API tokens printed once and revocable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from hub.store import make_engine, make_sessionmaker
from hub.store.models import ApiToken, AuditEntry, User
from tests.servers import REPO

HUB = str(Path(sys.executable).parent / "telecentre-hub")
DEMO = REPO / "deploy" / "demo"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump({"state_dir": str(tmp_path / "state")}))
    run(path, "import-sites", str(DEMO / "sites.yaml"))
    return path


def run(config: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HUB, "--config", str(config), *args],
        input=stdin, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_users_from_the_command_line(config: Path, tmp_path: Path) -> None:
    made = run(config, "user", "add", "ada", "--role", "admin", stdin="un long mot de passe\n")
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip() == "user ada created (admin)"
    lea = run(config, "user", "add", "lea", "--role", "animator", "--site", "murat",
              "--site", "mauriac", "--name", "Léa", stdin="un autre mot de passe\n")  # fmt: skip
    assert lea.returncode == 0, lea.stderr
    no_site = run(config, "user", "add", "zoe", "--role", "animator", stdin="assez long oui\n")
    taken = run(config, "user", "add", "ada", "--role", "admin", stdin="un long mot de passe\n")
    assert (no_site.returncode, taken.returncode) == (1, 1)
    assert no_site.stderr.strip().splitlines()[-1] == (
        "telecentre-hub: sites: an animator runs at least one site"
    )
    assert taken.stderr.strip().splitlines()[-1] == "telecentre-hub: login: the login ada is taken"
    assert run(config, "user", "disable", "lea").returncode == 0
    assert run(config, "user", "password", "ada", stdin="encore un autre mot\n").returncode == 0
    listed = run(config, "user", "list").stdout.splitlines()
    assert [line.split("\t")[:4] for line in listed] == [
        ["ada", "admin", "*", "active"],
        ["lea", "animator", "mauriac,murat", "disabled"],
    ]
    engine = make_engine(f"sqlite:///{tmp_path / 'state' / 'hub.db'}")
    with make_sessionmaker(engine)() as session:
        hashes = list(session.scalars(select(User.password_hash)))
        actions = list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
    engine.dispose()
    assert all(h.startswith("$argon2id$") for h in hashes)
    assert actions[-4:] == ["user_created", "user_created", "user_disabled", "user_password_set"]


def test_tokens_are_printed_once_and_kept_hashed(config: Path, tmp_path: Path) -> None:
    made = run(config, "token", "add", "écran", "--role", "animator:murat")
    assert made.returncode == 1 and "a token's name" in made.stderr
    made = run(config, "token", "add", "ecran murat", "--role", "animator:murat")
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip()
    assert secret.startswith("tc_") and len(secret) > 40
    assert "shown once" in made.stderr
    assert run(config, "token", "add", "x", "--role", "animator:ydes").returncode == 1
    assert run(config, "token", "revoke", "ecran murat").returncode == 0
    listed = run(config, "token", "list").stdout
    assert "ecran murat\tanimator:murat\trevoked" in listed and secret not in listed
    engine = make_engine(f"sqlite:///{tmp_path / 'state' / 'hub.db'}")
    with make_sessionmaker(engine)() as session:
        token = session.scalars(select(ApiToken)).one()
    engine.dispose()
    assert secret not in token.token_hash and token.revoked_at is not None


def test_a_users_email_from_the_command_line(config: Path, tmp_path: Path) -> None:
    made = run(config, "user", "add", "lea", "--role", "animator", "--site", "murat",
               "--email", "lea@murat.example", stdin="un long mot de passe\n")  # fmt: skip
    assert made.returncode == 0, made.stderr
    changed = run(config, "user", "email", "lea", "lea.martin@murat.example")
    assert changed.stdout.strip() == "user lea: e-mail lea.martin@murat.example"
    wrong = run(config, "user", "email", "lea", "lea at murat")
    assert wrong.returncode == 1
    assert wrong.stderr.strip().splitlines()[-1] == (
        "telecentre-hub: email: lea at murat is not an e-mail address"
    )
    engine = make_engine(f"sqlite:///{tmp_path / 'state' / 'hub.db'}")
    with make_sessionmaker(engine)() as session:
        assert session.scalars(select(User.email)).one() == "lea.martin@murat.example"
        actions = list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
        assert actions.count("user_email_set") == 2
    engine.dispose()
    assert run(config, "user", "email", "lea", "").stdout.strip() == "user lea: e-mail removed"
