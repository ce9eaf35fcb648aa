"""Real servers on loopback for the tests and benchmarks: each started in a temp dir, stopped after.

Only the Pi's hardware is simulated in this project; brokers and databases are the real thing.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LIMITS_CONF = REPO / "deploy" / "mosquitto" / "limits.conf"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


class Mosquitto:
    """A Mosquitto broker with the project's limits, its persistence kept across restarts.

    `extra` adds config lines (a password file, an ACL) to the listener.
    """

    def __init__(self, workdir: Path, extra: str = "") -> None:
        if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
            raise RuntimeError("mosquitto is not installed: run ./dev test, which installs it")
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.conf = workdir / "mosquitto.conf"
        self.log = workdir / "mosquitto.log"
        self.conf.write_text(
            f"{LIMITS_CONF.read_text()}\n"
            f"user {getpass.getuser()}\n"  # as root, stay root: pytest's temp dirs are 0700
            f"persistence_location {workdir}/\n"
            f"log_dest file {self.log}\n"
            "log_type error\nlog_type warning\nlog_type notice\n"
            f"listener {self.port} 127.0.0.1\n" + (extra or "allow_anonymous true\n")
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def binary(self) -> str:
        return shutil.which("mosquitto") or "/usr/sbin/mosquitto"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=self.workdir,
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        """A clean stop: Mosquitto saves its persistence database on the way out."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")


class Postgres:
    """A throw-away PostgreSQL 15 cluster on a free loopback port, trusting local connections.

    PostgreSQL refuses to run as root: when the tests run as root, the cluster belongs to the
    `postgres` OS user (created by Debian's package) and its commands run through `runuser`.
    """

    def __init__(self) -> None:
        if not (POSTGRES_BIN / "initdb").exists():
            raise RuntimeError(
                f"PostgreSQL 15 is not installed ({POSTGRES_BIN} is missing): "
                "run ./dev test, which installs it"
            )
        self.workdir = Path(tempfile.mkdtemp(prefix="telecentre-pg-"))
        self.data = self.workdir / "data"
        self.log = self.workdir / "postgres.log"
        self.port = free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.workdir, user="postgres", group="postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]

    def _run(self, *command: str) -> None:
        result = subprocess.run(
            [*self.as_user, *command], capture_output=True, text=True, cwd=self.workdir
        )
        if result.returncode != 0:
            raise RuntimeError(f"{command[0]} failed: {result.stderr or result.stdout}")

    def start(self) -> None:
        if not self.data.exists():
            self._run(
                str(POSTGRES_BIN / "initdb"),
                "-D", str(self.data), "-U", "postgres", "-A", "trust",
                "-E", "UTF8", "--locale=C", "--no-sync",
            )  # fmt: skip
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.workdir} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            str(POSTGRES_BIN / "pg_ctl"),
            "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start",
        )  # fmt: skip

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(str(POSTGRES_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "stop")

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _admin(self, sql: str) -> None:
        import psycopg  # only the hub's tests need it; the edge's tests import this module too

        with psycopg.connect(self.url().replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute(sql.encode())

    def create_database(self) -> str:
        """A new empty database; its SQLAlchemy URL."""
        name = f"test_{uuid.uuid4().hex[:12]}"
        self._admin(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
