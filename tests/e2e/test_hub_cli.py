"""`telecentre-hub` from a shell, as an operator runs it: imports, reports and the errors a
person must be able to act on (which file, which line, which field, why)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hub.doors.access_lists import changed_since
from hub.store import make_engine, make_sessionmaker
from telecentre import wire
from telecentre.signing import SigningKey, TrustedKeys
from tests.servers import REPO, Mosquitto

HUB = str(Path(sys.executable).parent / "telecentre-hub")
DEMO = REPO / "deploy" / "demo"


@pytest.fixture
def config(tmp_path: Path, broker: Mosquitto) -> Path:
    path = tmp_path / "hub.yaml"
    # Taps of November 2026 must make sessions whenever the test runs: no quarantine for
    # their age (docs/rules.md, Quarantine).
    path.write_text(
        yaml.safe_dump(
            {
                "state_dir": str(tmp_path / "state"),
                "mqtt": {"port": broker.port},
                "retention": {"events_retention_days": 36500},
            }
        )
    )
    return path


def hub(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HUB, "--config", str(config), *args], capture_output=True, text=True, timeout=120
    )


def test_imports_flag_access_lists_and_the_evaluation_reports(
    config: Path, broker: Mosquitto, tmp_path: Path
) -> None:
    assert hub(config, "import-sites", str(DEMO / "sites.yaml")).returncode == 0
    members = hub(config, "import-members", str(DEMO / "members.csv"))
    assert members.returncode == 0, members.stderr
    assert json.loads(members.stdout.splitlines()[-1]) == {"created": 8, "updated": 0}
    assert "the running hub publishes them within a minute" in members.stderr
    engine = make_engine(f"sqlite:///{tmp_path / 'state' / 'hub.db'}")
    with make_sessionmaker(engine)() as session:
        _, changed = changed_since(session, 0)  # what the running hub's minute job reads
    engine.dispose()
    assert changed == {"murat", "mauriac", "aurillac-a2ex"}

    events = tmp_path / "events.jsonl"
    tap = {
        **wire.badge_event(
            site="murat",
            device="murat-door",
            badge="04A2B3C4D5E6F7",
            reader="entrance",
            direction="in",
            access="granted",
            clock_synced=True,
        ),
        "seq": 1,
        "ts": "2026-11-23T09:00:00+01:00",
    }
    leave = {
        **tap,
        "id": "second-tap",
        "seq": 2,
        "direction": "out",
        "ts": "2026-11-23T11:30:00+01:00",
    }
    events.write_text(
        "\n".join([json.dumps(tap), "not json", json.dumps(leave), json.dumps(tap)]) + "\n"
    )
    imported = hub(config, "import-events", str(events))
    assert json.loads(imported.stdout) == {"accepted": 2, "duplicates": 1, "rejected": 1}
    assert f"{events}: line 2: payload is not UTF-8 JSON" in imported.stderr

    report = hub(config, "report", "evaluation", "--from", "2026-11-23", "--to", "2026-11-23")
    figures = json.loads(report.stdout)
    assert (figures["users"], figures["hours"]) == (1, 2.5)
    murat = next(site for site in figures["by_site"] if site["site"] == "murat")
    assert murat["hours"] == 2.5 and murat["positions"]["total"] == 9


def test_a_bad_members_file_names_its_lines_and_writes_nothing(
    config: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "members.csv"
    lines = (DEMO / "members.csv").read_text().splitlines()
    lines[3] = lines[3].replace("mobile,,", "mobile,2026-13-01,")
    bad.write_text("\n".join(lines) + "\n")
    run = hub(config, "import-members", str(bad))
    assert run.returncode == 1
    assert f"{bad}: line 4, field 'pass_since': '2026-13-01' is not a date" in run.stderr
    assert "nothing imported" in run.stderr
    export = hub(config, "export-member", "M0001")
    assert export.returncode == 1 and "no member 'M0001'" in export.stderr


def test_errors_at_start_are_one_line_naming_what_is_wrong(config: Path, tmp_path: Path) -> None:
    typo = tmp_path / "typo.yaml"
    typo.write_text("mqtt: {hots: broker}\n")
    run = subprocess.run([HUB, "--config", str(typo), "migrate"], capture_output=True, text=True)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        f"telecentre-hub: bad config: {typo}: unknown key 'mqtt.hots'"
    ]
    sites = tmp_path / "sites.yaml"
    sites.write_text(
        (DEMO / "sites.yaml")
        .read_text()
        .replace('["08:30-17:00"]', '["08:30-12:00", "11:00-17:00"]', 1)
    )
    settings = yaml.safe_load(config.read_text()) | {"sites_file": str(sites)}
    config.write_text(yaml.safe_dump(settings))
    serve = hub(config, "serve")
    assert serve.returncode == 2
    assert "overlap" in serve.stderr and "line" in serve.stderr
    acl = hub(config, "broker-acl", "--hub-user", "+")
    assert acl.returncode == 2 and "'+' is not a site or device id" in acl.stderr


def test_an_operator_applies_a_quarantined_tap(config: Path, tmp_path: Path) -> None:
    assert hub(config, "import-sites", str(DEMO / "sites.yaml")).returncode == 0
    assert hub(config, "import-members", str(DEMO / "members.csv")).returncode == 0
    ahead = {
        **wire.badge_event(
            site="murat",
            device="murat-door",
            badge="04A2B3C4D5E6F7",
            reader="entrance",
            direction="in",
            access="granted",
            clock_synced=True,
        ),
        "seq": 1,
        "ts": "2999-01-01T09:00:00+01:00",
    }
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps(ahead) + "\n")
    assert hub(config, "import-events", str(events)).returncode == 0
    applied = hub(config, "events", "apply", ahead["id"])
    assert applied.returncode == 0, applied.stderr
    assert json.loads(applied.stdout) == {"id": ahead["id"], "outcome": "counted"}
    again = hub(config, "events", "apply", ahead["id"])
    assert again.returncode == 1 and "is not quarantined (outcome: counted)" in again.stderr
    unknown = hub(config, "events", "apply", "no-such-event")
    assert unknown.returncode == 1 and "no event 'no-such-event'" in unknown.stderr


def test_keys_init_makes_the_signing_key_once_and_keys_public_prints_it(
    config: Path, tmp_path: Path
) -> None:
    missing = hub(config, "keys", "public")
    assert missing.returncode == 1
    assert "no signing key at" in missing.stderr and "run `keys init`" in missing.stderr
    made = hub(config, "keys", "init")
    assert made.returncode == 0, made.stderr
    key_file = tmp_path / "state" / "access-list.key"
    assert (key_file.stat().st_mode & 0o777) == 0o600
    public = made.stdout.strip()
    assert TrustedKeys.from_texts([public]).keys  # what an edge's config takes
    again = hub(config, "keys", "init")
    assert again.returncode == 0 and "kept the existing key" in again.stderr
    assert again.stdout.strip() == public
    shown = hub(config, "keys", "public")
    assert shown.returncode == 0 and shown.stdout.strip() == public
    assert SigningKey.load(key_file).key_id in shown.stderr
    key_file.write_text("not a key")
    broken = hub(config, "keys", "public")
    assert broken.returncode == 1 and str(key_file) in broken.stderr


def test_broker_acl_names_every_hub_account_given(config: Path) -> None:
    acl = hub(config, "broker-acl", "--hub-user", "hub", "--hub-user", "hub-2")
    assert acl.returncode == 0, acl.stderr
    lines = acl.stdout.splitlines()
    for user in ("hub", "hub-2"):
        at = lines.index(f"user {user}")
        assert lines[at + 1] == "topic readwrite telecentre/#"
    # Devices and watchers have their accounts on the device listener (deploy/add-device).
    assert [line for line in lines if line.startswith("user ")] == ["user hub", "user hub-2"]
    assert hub(config, "broker-acl", "--hub-user", "hub+").returncode == 2


def test_commands_keep_alembic_quiet_unless_verbose(tmp_path: Path) -> None:
    config = tmp_path / "quiet.yaml"
    config.write_text(f"state_dir: {tmp_path / 'state'}\n")
    quiet = subprocess.run(
        [HUB, "--config", str(config), "migrate"], capture_output=True, text=True, timeout=120
    )
    assert quiet.returncode == 0 and "latest schema" in quiet.stdout
    assert "alembic" not in quiet.stderr
    # A fresh database again: one already at the head has no step to log.
    config.write_text(f"state_dir: {tmp_path / 'verbose'}\n")
    verbose = subprocess.run(
        [HUB, "--verbose", "--config", str(config), "migrate"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert verbose.returncode == 0 and "INFO alembic" in verbose.stderr


def test_an_import_loads_neither_alembic_nor_the_mail_templates(tmp_path: Path) -> None:
    """A database at the head needs no Alembic, an import no Jinja2: left unloaded, they do
    not add to the start of every command (`--help` still lists every command)."""
    config = tmp_path / "hub.yaml"
    config.write_text(f"state_dir: {tmp_path / 'state'}\n")
    assert hub(config, "migrate").returncode == 0
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    probe = (
        "import sys; from hub.cli.main import main; "
        f"code = main(['--config', {str(config)!r}, 'import-events', {str(empty)!r}]); "
        "print(code, sorted({name.split('.')[0] for name in sys.modules} & "
        "{'alembic', 'jinja2', 'babel', 'mako'}))"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[-1] == "0 []"
    usage = hub(config, "--help").stdout
    for command in ("import-events", "user", "token", "billing", "mail", "keys", "events"):
        assert command in usage
