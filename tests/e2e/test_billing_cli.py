"""`telecentre-hub billing …` from a shell: a month closed (or refused, naming the open stays),
shown as the API's JSON, and its invoices written as a zip."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import zipfile
from datetime import timedelta
from pathlib import Path

import yaml
from sqlalchemy import select

from hub.store import make_engine, make_sessionmaker
from hub.store.models import PresenceSession
from tests.integration.test_invoicing import MEMBERS, SITES, at, stay

HUB = str(Path(sys.executable).parent / "telecentre-hub")


def hub(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HUB, "--config", str(config), *args], capture_output=True, text=True, timeout=300
    )


def hub_with_members(tmp_path: Path) -> Path:
    """A hub's config in `tmp_path`, its database with the test sites and members."""
    config = tmp_path / "hub.yaml"
    config.write_text(yaml.safe_dump({"state_dir": str(tmp_path / "state")}))
    (tmp_path / "sites.yaml").write_text(SITES)
    (tmp_path / "members.csv").write_text(MEMBERS)
    assert hub(config, "import-sites", str(tmp_path / "sites.yaml")).returncode == 0
    assert hub(config, "import-members", str(tmp_path / "members.csv")).returncode == 0
    return config


def test_a_month_closed_shown_and_zipped_from_a_shell(tmp_path: Path) -> None:
    config = hub_with_members(tmp_path)
    engine = make_engine(f"sqlite:///{tmp_path / 'state' / 'hub.db'}")
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        session.add(stay("M001", "murat", "2026-11-03", "09:00", 4))
        session.add(stay("M002", "ydes", "2026-11-24", "09:00", 3))
        session.add(
            PresenceSession(member_id="M003", site_id="murat", start=at("2026-11-30", "17:00"))
        )

    refused = hub(config, "billing", "close", "2026-11")
    assert refused.returncode == 1
    assert "Stays of 2026-11 still open: 1" in refused.stderr
    assert "M003 at murat since 2026-11-30 17:00:00+01:00" in refused.stdout
    with sessions.begin() as session:
        row = session.scalars(select(PresenceSession).where(PresenceSession.end.is_(None))).one()
        row.end = row.start + timedelta(hours=1)
    engine.dispose()

    closed = hub(config, "billing", "close", "2026-11")
    assert closed.returncode == 0, closed.stderr
    assert "2026-11 closed: 3 lines, 0 adjustments, 2 invoices, 21.00 EUR" in closed.stdout
    shown = json.loads(hub(config, "billing", "show", "2026-11").stdout)
    assert shown["closed"] is True and shown["total_eur"] == 21.0
    assert [line["invoice"] for line in shown["lines"]] == ["MURAT-000001", None, "YDES-000001"]
    earlier = tmp_path / "nov.zip"  # a file left readable by all: it ends up private
    earlier.write_bytes(b"")
    earlier.chmod(0o644)
    written = hub(config, "billing", "invoices", "2026-11", "--zip", str(earlier))
    assert written.returncode == 0, written.stderr
    assert stat.S_IMODE(earlier.stat().st_mode) == 0o600  # names and addresses inside
    assert sorted(zipfile.ZipFile(tmp_path / "nov.zip").namelist()) == [
        "murat/MURAT-000001.pdf",
        "ydes/YDES-000001.pdf",
    ]
    bad = hub(config, "billing", "close", "2026-13")
    assert bad.returncode == 2 and "'2026-13' is not a month" in bad.stderr
    assert hub(config, "billing", "invoices", "2026-10", "--zip", "x.zip").returncode == 1


def close_at(config: Path, month: str, now: str) -> subprocess.CompletedProcess[str]:
    """`billing close` in a process whose clock says `now` (the command's `main(clock=)`)."""
    probe = (
        "import sys; from datetime import datetime; from hub.cli.main import main; "
        f"sys.exit(main(['--config', {str(config)!r}, 'billing', 'close', {month!r}], "
        f"clock=lambda: datetime.fromisoformat({now!r})))"
    )
    return subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=300
    )


def test_a_month_is_closed_from_a_shell_only_once_it_has_ended_in_paris(tmp_path: Path) -> None:
    """A second before midnight in Paris on 30 November, November is refused, saying from
    when; a second after, it closes (it is still 30 November in UTC)."""
    config = hub_with_members(tmp_path)
    engine = make_engine(f"sqlite:///{tmp_path / 'state' / 'hub.db'}")
    with make_sessionmaker(engine).begin() as session:
        session.add(stay("M001", "murat", "2026-11-30", "20:00", 2))
    engine.dispose()

    early = close_at(config, "2026-11", "2026-11-30T23:59:59+01:00")
    assert early.returncode == 1
    assert "2026-11 has not ended: it can be closed from 2026-12-01." in early.stderr
    assert "closed:" not in early.stdout
    closed = close_at(config, "2026-11", "2026-12-01T00:00:01+01:00")
    assert closed.returncode == 0, closed.stderr
    assert "2026-11 closed: 1 lines, 0 adjustments, 1 invoices, 6.00 EUR" in closed.stdout
