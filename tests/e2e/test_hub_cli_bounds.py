"""`telecentre-hub` from a shell under abuse: the files it creates are its user's only,
arguments are bounded and matched whole, a readable tokens file is refused, every import is
audited with the user who ran it."""

from __future__ import annotations

import getpass
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select, text

from hub.store import make_engine, make_sessionmaker
from hub.store.models import AuditEntry
from telecentre import wire
from telecentre.signing import SigningKey
from tests.servers import free_port

HUB = str(Path(sys.executable).parent / "telecentre-hub")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def hub(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # A permissive umask, as a shell may have: the hub must not rely on it.
    return subprocess.run(
        [HUB, "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: os.umask(0o022),
    )


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump({"state_dir": str(tmp_path / "state")}))
    return path


def test_the_database_and_its_folder_are_created_for_the_hubs_user_only(
    config: Path, tmp_path: Path
) -> None:
    run = hub(config, "migrate")
    assert run.returncode == 0, run.stderr
    assert mode(tmp_path / "state") == 0o700
    assert mode(tmp_path / "state" / "hub.db") == 0o600


def test_the_wal_and_shm_files_are_as_private_as_the_database(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        engine = make_engine(f"sqlite:///{tmp_path / 'state' / 'hub.db'}")
        with engine.begin() as connection:  # a write: SQLite creates the WAL and SHM files
            connection.execute(text("CREATE TABLE t (x INTEGER)"))
            connection.execute(text("INSERT INTO t VALUES (1)"))
        with engine.connect() as connection:  # held open: the WAL stays on disk
            connection.execute(text("SELECT * FROM t"))
            files = {path.name: mode(path) for path in (tmp_path / "state").iterdir()}
        engine.dispose()
    finally:
        os.umask(previous)
    assert files == {"hub.db": 0o600, "hub.db-wal": 0o600, "hub.db-shm": 0o600}


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["report", "evaluation", "--from", "0001-01-01", "--to", "2026-12-31"],
         "argument --from: 0001-01-01 is outside 2000-01-01 to 2100-12-31"),
        (["report", "evaluation", "--from", "2026-01-01", "--to", "20261231"],
         "argument --to: '20261231' is not a date (YYYY-MM-DD)"),
        (["report", "evaluation", "--from", "2026-01-01\n", "--to", "2026-12-31"],
         "argument --from: '2026-01-01\\n' is not a date (YYYY-MM-DD)"),
        (["export-member", "M001\n"], "argument member_id: 'M001\\n' is not a member id"),
        (["erase-member", "../M001"], "argument member_id: '../M001' is not a member id"),
    ],
)  # fmt: skip
def test_bad_arguments_are_refused_with_a_sentence(
    config: Path, args: list[str], error: str
) -> None:
    run = hub(config, *args)
    assert run.returncode == 2
    assert error in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize("tokens_mode", [0o644, 0o640])
def test_a_tokens_file_others_may_read_stops_the_hub_at_start(
    tmp_path: Path, tokens_mode: int
) -> None:
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text("Department-Token-0001: department\n")
    tokens.chmod(tokens_mode)
    config = tmp_path / "hub.yaml"
    config.write_text(
        yaml.safe_dump({"state_dir": str(tmp_path / "state"), "api_tokens_file": str(tokens)})
    )
    run = hub(config, "migrate")
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert f"its group or others may read it (mode {tokens_mode:04o}); chmod 600 it" in lines[0]
    assert "Department-Token-0001" not in run.stderr
    tokens.chmod(0o600)
    assert hub(config, "migrate").returncode == 0


def test_a_shell_import_of_events_is_audited_with_its_user(config: Path, tmp_path: Path) -> None:
    event = wire.badge_event(
        site="murat", device="murat-door", badge="04A2B3C4", reader="entrance",
        direction="in", access="granted", clock_synced=True,
    )  # fmt: skip
    event |= {"seq": 1, "ts": "2026-10-05T09:00:00+02:00"}
    events = tmp_path / "events.jsonl"
    events.write_bytes(wire.encode(event) + b"\n{}\n")
    run = hub(config, "import-events", str(events))
    assert run.returncode == 0, run.stderr
    engine = make_engine(f"sqlite:///{tmp_path / 'state' / 'hub.db'}")
    with make_sessionmaker(engine)() as session:
        entries = session.execute(select(AuditEntry.actor, AuditEntry.detail)).all()
    engine.dispose()
    assert [tuple(entry) for entry in entries] == [
        (
            f"cli:{getpass.getuser()}",
            {"kind": "events", "sites": [], "accepted": 1, "duplicates": 0, "rejected": 1},
        )
    ]


@pytest.mark.parametrize("user", ["hub\n", "hub\ntopic readwrite #", "+"])
def test_broker_acl_refuses_an_id_that_is_not_whole(config: Path, user: str) -> None:
    run = hub(config, "broker-acl", "--hub-user", "hub", "--hub-user", user)
    assert run.returncode == 2
    assert "is not a site or device id" in run.stderr
    assert run.stdout == ""


@pytest.mark.parametrize(
    ("secret", "file_mode"),
    [("secret_key", 0o644), ("access-list.key", 0o640), ("mqtt.password", 0o604),
     ("hub.yaml", 0o644)],
)  # fmt: skip
def test_a_secret_file_others_may_read_stops_the_hub_with_the_chmod_to_run(
    tmp_path: Path, secret: str, file_mode: int
) -> None:
    """The session key, the signing key, the MQTT password file, and hub.yaml when it holds
    api_tokens itself: the service refuses to start, naming the file and the command."""
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    (state / "secret_key").write_text("00" * 32 + "\n")
    key = tmp_path / "state" / "access-list.key"
    SigningKey.generate().save(key)
    password = tmp_path / "mqtt.password"
    password.write_text("not-the-real-one\n")
    config = tmp_path / "hub.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "state_dir": str(state),
                "mqtt": {"port": free_port(), "username": "hub", "password_file": str(password)},
                "http": {"port": free_port()},
                "api_tokens": {"Department-Token-0001": "department"},
            }
        )
    )
    files = {"secret_key": state / "secret_key", "access-list.key": key,
             "mqtt.password": password, "hub.yaml": config}  # fmt: skip
    for path in files.values():
        path.chmod(0o600)
    files[secret].chmod(file_mode)
    run = hub(config)
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert f"may be read by its group or others (mode {file_mode:04o})" in lines[0]
    assert f"run `chmod 600 {files[secret]}`" in lines[0]
    assert "Department-Token-0001" not in run.stderr
