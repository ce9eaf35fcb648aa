"""The README's demo, end to end through its public command: a broker, the hub and three
simulated sites whose members' taps become stored events, sessions and device statuses, and
no member is ever at two sites at once."""

from __future__ import annotations

import itertools
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.servers import REPO


def test_the_demo_turns_simulated_taps_into_events_sessions_and_devices(tmp_path: Path) -> None:
    state = tmp_path / "demo"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "deploy.demo",
            "--seconds",
            "12",
            "--tap-every",
            "0.2",
            "--state",
            str(state),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "Demo running" in run.stdout
    assert "devices: TLS on" in run.stdout  # the shipped broker configuration
    # Each door holds its site's list as the hub signed it, with the key the demo gave it.
    for device in ("murat-door", "mauriac-door", "aurillac-a2ex-door"):
        held = json.loads((state / device / "access.json").read_bytes())["list"]
        assert held["sig"] and held["key_id"]
    logins = (state / "secrets" / "console-logins").read_text().splitlines()
    assert [line.split("\t")[:2] for line in logins] == [
        ["animatrice", "animator"],
        ["departement", "department"],
    ]
    assert (state / "secrets" / "console-logins").stat().st_mode & 0o077 == 0
    for line in logins:
        assert line.split("\t")[2] in run.stdout  # shown once, at the start that made them
    assert "Staff console:      http://127.0.0.1:" in run.stdout
    assert "mosquitto_pub" in run.stdout and "-t telecentre/murat/events/murat-door" in run.stdout
    db = sqlite3.connect(state / "hub" / "hub.db")
    events = dict(db.execute("SELECT type, count(*) FROM events GROUP BY type").fetchall())
    granted = db.execute("SELECT count(*) FROM events WHERE access = 'granted'").fetchone()[0]
    sessions = db.execute("SELECT count(DISTINCT member_id) FROM sessions").fetchone()[0]
    devices = {row[0] for row in db.execute("SELECT id FROM devices")}
    rejected = db.execute("SELECT count(*) FROM rejected_events").fetchone()[0]
    stays = db.execute(
        "SELECT member_id, site_id, start, coalesce(\"end\", '9999') FROM sessions"
        " ORDER BY member_id, start"
    ).fetchall()
    assert events.get("badge", 0) >= 10 and granted >= 5
    assert events.get("door", 0) >= 2, "the simulated visitor opens and shuts the doors"
    assert sessions >= 2
    assert devices == {"murat-door", "mauriac-door", "aurillac-a2ex-door"}
    assert rejected == 0
    for (member, site, _, end), (next_member, next_site, start, _) in itertools.pairwise(stays):
        if member == next_member:
            assert start >= end, f"{member} at {site} and {next_site} at once"
