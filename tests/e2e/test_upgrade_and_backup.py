"""Operations on a hub with a network's month in it, on SQLite and PostgreSQL, as
docs/operations.md writes them: a database made by the previous release (its own code and
migrations) upgraded by today's, and a backup restored; the department's figures unchanged.

The previous release runs from `git archive` in a venv of its own that borrows this venv's
dependencies (its `hub` package, not this checkout's editable one)."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
import sysconfig
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from deploy.demo.year import NETWORK, members, members_csv, network_sites, past_events, taps_between
from tests.servers import REPO, Postgres

pytestmark = pytest.mark.timeout(600)

#: main before the console's merge (migrations up to 0003): the release this one follows.
PREVIOUS_RELEASE = "e63e527"
MONTH = ("2025-03-01", "2025-03-31")


def _network_month(directory: Path) -> tuple[Path, Path]:
    """The demo network's members and two weeks of their taps, as files to import; the
    members without their postal address, a column the previous release did not know."""
    sites = network_sites()
    crowd = members(sites, seed=3)
    paris = ZoneInfo("Europe/Paris")
    first = datetime(2025, 3, 1, tzinfo=paris)
    taps = taps_between(first, first + timedelta(days=14), crowd, sites, seed=3)
    lines, _ = past_events(taps, {}, seed=3)
    rows = list(csv.DictReader(io.StringIO(members_csv(crowd))))
    with (directory / "members.csv").open("w", newline="") as file:
        columns = [name for name in rows[0] if name != "address"]
        writer = csv.DictWriter(file, columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    (directory / "events.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    return directory / "members.csv", directory / "events.jsonl"


def _config(directory: Path, url: str) -> Path:
    path = directory / "hub.yaml"
    config = {
        "state_dir": str(directory / "state"),
        "database": {"url": url},
        "retention": {"events_retention_days": 3650},  # the month is older than 90 days
    }
    path.write_text(yaml.safe_dump(config))
    return path


def _hub(command: list[str], config: Path, *args: str, cwd: Path = REPO) -> str:
    done = subprocess.run(
        [*command, "--config", str(config), *args],
        capture_output=True, text=True, cwd=cwd, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _figures(command: list[str], config: Path, cwd: Path = REPO) -> dict[str, object]:
    period = ["--from", MONTH[0], "--to", MONTH[1]]
    printed = _hub(command, config, "report", "evaluation", *period, cwd=cwd)
    figures: dict[str, object] = json.loads(printed)
    assert figures["hours"] and figures["users"], figures
    return figures


TODAY = [str(Path(sys.executable).parent / "telecentre-hub")]


def _network_of_before(tmp_path: Path) -> Path:
    """The demo's sites file as the previous release reads it: it knew no door names,
    device labels nor invoicing (the sites file refuses keys it does not know)."""
    network = yaml.safe_load(NETWORK.read_text(encoding="utf-8"))
    for site in network["sites"]:
        for key in ("doors", "devices", "invoicing"):
            site.pop(key, None)
    path = tmp_path / "network-of-before.yaml"
    path.write_text(yaml.safe_dump(network, allow_unicode=True), encoding="utf-8")
    return path


def test_a_database_of_the_previous_release_upgrades_with_its_figures(
    tmp_path: Path, db_url: str
) -> None:
    if not (REPO / ".git").exists():
        pytest.skip("no git history in this copy (the previous release comes from it)")
    old = tmp_path / "previous"
    old.mkdir()
    archive = subprocess.run(
        ["git", "archive", PREVIOUS_RELEASE], cwd=REPO, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site_packages = next((venv / "lib").glob("python3*/site-packages"))
    (site_packages / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    previous = [str(venv / "bin" / "python"), "-m", "hub"]  # its `telecentre-hub`
    members_file, events_file = _network_month(tmp_path)
    config = _config(tmp_path, db_url)
    _hub(previous, config, "import-sites", str(_network_of_before(tmp_path)), cwd=old)
    _hub(previous, config, "import-members", str(members_file), cwd=old)
    _hub(previous, config, "import-events", str(events_file), cwd=old)
    before = _figures(previous, config, cwd=old)

    assert "latest schema" in _hub(TODAY, config, "migrate")
    assert _figures(TODAY, config) == before
    # And the upgraded hub goes on: the same month again is all duplicates, nothing doubles.
    again = json.loads(_hub(TODAY, config, "import-events", str(events_file)))
    assert again["accepted"] == 0 and again["duplicates"] > 1000
    assert _figures(TODAY, config) == before


def _backup(url: str, postgres: Postgres | None, into: Path) -> None:
    """docs/operations.md, "Backups": SQLite's online `.backup`, or `pg_dump -Fc`."""
    if postgres is None:
        database = url.removeprefix("sqlite:///")
        subprocess.run(["sqlite3", database, f".backup '{into}'"], check=True)
    else:
        name = url.rsplit("/", 1)[1]
        subprocess.run(
            ["pg_dump", "-Fc", "-h", "127.0.0.1", "-p", str(postgres.port), "-U", "postgres",
             "-d", name, "-f", str(into)],
            check=True,
        )  # fmt: skip


def _restore(url: str, postgres: Postgres | None, backup: Path) -> None:
    """docs/operations.md, "Restoring" (the hub stopped)."""
    if postgres is None:
        database = Path(url.removeprefix("sqlite:///"))
        for leftover in (Path(f"{database}-wal"), Path(f"{database}-shm")):
            leftover.unlink(missing_ok=True)
        shutil.copyfile(backup, database)
        database.chmod(0o600)
    else:
        name = url.rsplit("/", 1)[1]
        admin = ["-h", "127.0.0.1", "-p", str(postgres.port), "-U", "postgres"]
        subprocess.run(["dropdb", *admin, "--force", name], check=True)
        subprocess.run(["createdb", *admin, name], check=True)
        subprocess.run(["pg_restore", *admin, "-d", name, "--no-owner", str(backup)], check=True)


def test_a_backup_restored_gives_back_the_figures(
    tmp_path: Path, db_url: str, request: pytest.FixtureRequest
) -> None:
    postgres = request.getfixturevalue("postgres") if db_url.startswith("postgresql") else None
    members_file, events_file = _network_month(tmp_path)
    config = _config(tmp_path, db_url)
    _hub(TODAY, config, "import-sites", str(NETWORK))
    _hub(TODAY, config, "import-members", str(members_file))
    lines = events_file.read_bytes().splitlines(keepends=True)
    half = tmp_path / "first-half.jsonl"
    half.write_bytes(b"".join(lines[: len(lines) // 2]))
    _hub(TODAY, config, "import-events", str(half))
    before = _figures(TODAY, config)
    backup = tmp_path / "hub.backup"
    _backup(db_url, postgres, backup)
    assert backup.stat().st_size > 0

    _hub(TODAY, config, "import-events", str(events_file))  # the rest of the month, after it
    assert _figures(TODAY, config) != before
    _restore(db_url, postgres, backup)
    assert _figures(TODAY, config) == before
    # The rest of the month imported again (an edge's outbox, docs/operations.md): complete.
    _hub(TODAY, config, "import-events", str(events_file))
    assert _figures(TODAY, config)["hours"] > before["hours"]  # type: ignore[operator]
