"""The README's demo, end to end through its public commands, from a fresh state: the whole
network with last year imported, live taps, `./dev tap`, and Ctrl-C.

One demo runs for the module (its first start imports about two years of taps: ~1 min);
`--pace 2000` runs the live days fast enough that taps come within 90 s at any hour of any
day of the week (the doors stamp real time: today's sessions then last seconds)."""

from __future__ import annotations

import contextlib
import http.cookiejar
import itertools
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.console import csrf_token
from tests.servers import REPO

pytestmark = pytest.mark.timeout(600)


@dataclass
class RunningDemo:
    process: subprocess.Popen[str]
    state: Path
    out: Path
    url: str
    token: str
    logins: dict[str, str]

    def api(self, path: str) -> Any:
        request = urllib.request.Request(
            self.url + path, headers={"Authorization": f"Bearer {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.load(answer)


def _wait_for(out: Path, process: subprocess.Popen[str], text: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        printed = out.read_text(encoding="utf-8")
        if text in printed:
            return printed
        assert process.poll() is None, f"the demo exited: {printed[-3000:]}"
        time.sleep(0.5)
    raise AssertionError(f"no {text!r} within {timeout} s: {out.read_text()[-3000:]}")


def _processes_naming(text: str) -> list[str]:
    """Command lines of this machine's processes that name `text` (the demo's state)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if text in command:
                found.append(f"{entry.name}: {command}")
    return found


def _defunct_children(pid: int) -> list[str]:
    """Children of `pid` that exited and were never reaped (state Z)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            state, parent = stat.rsplit(")", 1)[1].split()[:2]
            if state == "Z" and int(parent) == pid:
                found.append(stat)
    return found


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDemo]:
    state = tmp_path_factory.mktemp("demo") / "state"
    out = state.parent / "demo.out"
    # Another program on the console's usual port: the demo must announce one it holds.
    squatter = socket.socket()
    with contextlib.suppress(OSError):  # taken already: by someone else, as well
        squatter.bind(("127.0.0.1", 8080))
        squatter.listen()
    with out.open("w") as printed, (state.parent / "demo.err").open("w") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "deploy.demo", "--state", str(state), "--pace", "2000"],
            cwd=REPO,
            stdout=printed,
            stderr=errors,
            text=True,
            start_new_session=True,  # its own process group, as a terminal's foreground job
        )
    try:
        printed_text = _wait_for(out, process, "Ctrl-C stops the demo", timeout=420)
        url = re.search(r"Staff console:\s+(http://127\.0\.0\.1:\d+)/", printed_text)
        assert url, printed_text
        logins = dict(re.findall(r"^\s+(animatrice|departement|admin)\s+(\S+)", printed_text, re.M))
        token = (state / "secrets" / "api-token").read_text()
        yield RunningDemo(process, state, out, url.group(1), token, logins)
    finally:
        squatter.close()
        if process.poll() is None:  # a test failed before Ctrl-C's: the demo stops its own
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for line in _processes_naming(str(state)):  # what it left, if it could not stop
            os.kill(int(line.split(":")[0]), signal.SIGKILL)


def test_the_demo_prints_the_console_three_logins_and_the_tap_command(demo: RunningDemo) -> None:
    printed = demo.out.read_text(encoding="utf-8")
    assert set(demo.logins) == {"animatrice", "departement", "admin"}
    assert not demo.url.endswith(":8080")  # taken by another program: the demo took another
    assert demo.api("/api/v1/occupancy")  # and the hub there is the demo's (its token works)
    kept = (demo.state / "secrets" / "console-logins").read_text().splitlines()
    assert {line.split("\t")[0]: line.split("\t")[2] for line in kept} == demo.logins
    assert (demo.state / "secrets" / "console-logins").stat().st_mode & 0o077 == 0
    assert "./dev tap murat" in printed
    assert "mosquitto_pub" not in printed  # no door's account handed out
    assert "alembic" not in printed.lower()
    with urllib.request.urlopen(f"{demo.url}/login", timeout=10) as answer:
        assert answer.status == 200


def test_last_year_looks_like_the_departments_evaluation(demo: RunningDemo) -> None:
    year = date.today().year - 1
    report = demo.api(f"/api/v1/evaluation?from={year}-01-01&to={year}-12-31")
    assert report["sites"] == 12
    assert 0.20 <= report["occupancy_rate"] <= 0.50, report["occupancy_rate"]
    assert 150 <= report["users"] <= 300 and report["pass_members"] > 50
    by_site = {row["site"]: row for row in report["by_site"]}
    assert len(by_site) == 12
    for site, row in by_site.items():
        assert row["hours"] > 100, site
        assert 0.0 < row["occupancy_rate"] < 0.7, (site, row["occupancy_rate"])
    lines = demo.api(f"/api/v1/billing?month={year}-06")["lines"]
    assert len(lines) > 50, "the billing of a past month has a line per member and site"


def test_todays_figures_move_and_a_member_is_never_at_two_sites(demo: RunningDemo) -> None:
    today = datetime.now(UTC).date().isoformat()

    def taps_today() -> int:
        return int(demo.api(f"/api/v1/events?from={today}&to={today}&limit=1")["total"])

    before = taps_today()
    deadline = time.monotonic() + 90
    while taps_today() == before:
        assert time.monotonic() < deadline, "no tap reached the hub in 90 s"
        time.sleep(2)
    db = sqlite3.connect(demo.state / "hub" / "hub.db")
    stays = db.execute(
        "SELECT member_id, site_id, start, coalesce(\"end\", '9999') FROM sessions"
        " WHERE member_id IS NOT NULL ORDER BY member_id, start"
    ).fetchall()
    assert len(stays) > 10_000
    for (member, site, _, end), (next_member, next_site, start, _) in itertools.pairwise(stays):
        if member == next_member:
            assert start >= end, f"{member} at {site} and {next_site} at once"


def _signed_in(demo: RunningDemo, login: str) -> urllib.request.OpenerDirector:
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    with opener.open(f"{demo.url}/login", timeout=10) as page:
        token = csrf_token(page.read().decode())
    form = {"login": login, "password": demo.logins[login], "csrf_token": token}
    opener.open(f"{demo.url}/login", urllib.parse.urlencode(form).encode(), timeout=10).close()
    return opener


def test_dev_tap_shows_on_the_board_and_the_door_stays_online(demo: RunningDemo) -> None:
    tap = subprocess.run(
        [str(REPO / "dev"), "tap", "murat", "--state", str(demo.state)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert tap.returncode == 0, tap.stderr
    assert "murat-door: card 0DE40DE4 granted" in tap.stdout
    board = _signed_in(demo, "animatrice").open(f"{demo.url}/board/murat", timeout=10)
    assert "Visiteuse" in board.read().decode()
    time.sleep(3)
    devices = {row["device"]: row for row in demo.api("/api/v1/devices")["devices"]}
    assert devices["murat-door"]["state"] == "online"
    assert _defunct_children(demo.process.pid) == []
    log = (demo.state / "broker" / "mosquitto.log").read_text()
    assert "already connected" not in log
    refused = subprocess.run(
        [str(REPO / "dev"), "tap", "nowhere", "--state", str(demo.state)],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert refused.returncode == 1 and "no site 'nowhere'" in refused.stderr


def test_ctrl_c_stops_everything_with_exit_code_0(demo: RunningDemo) -> None:
    os.killpg(demo.process.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    assert demo.process.wait(timeout=60) == 0
    errors = (demo.state.parent / "demo.err").read_text()
    assert "error" not in errors.lower() and "Traceback" not in errors, errors
    assert _processes_naming(str(demo.state)) == []
    assert not (demo.state / "tap.sock").exists()
