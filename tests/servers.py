"""Real servers on loopback for the tests and benchmarks: each started in a temp dir, stopped after.

Only the Pi's hardware is simulated in this project; brokers and databases are the real thing.
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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

    def kill(self) -> None:
        """A crash (`kill -9`): what the broker had not saved yet (`autosave_interval`) is lost."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=15)
        self.process = None

    @contextmanager
    def paused(self) -> Iterator[None]:
        """A broker that answers nothing (SIGSTOP), its connections still open: a slow or
        overloaded broker; it goes on (SIGCONT) at the end of the block."""
        assert self.process is not None, "the broker is not started"
        os.kill(self.process.pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(self.process.pid, signal.SIGCONT)

    def __enter__(self) -> Mosquitto:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


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


class InfluxDB:
    """InfluxDB 1.6 (Debian's `influxd`) on a free loopback port, its data in a temp dir.

    Only the HTTP API listens (and the RPC port, on loopback, which 1.6 always opens); usage
    reporting, the `_internal` monitor database and every other listener are off. Its data
    stays across `restart()`; `remove()` deletes it.
    """

    def __init__(self) -> None:
        if shutil.which("influxd") is None:
            raise RuntimeError("influxd is not installed: run ./dev test, which installs it")
        self.workdir = Path(tempfile.mkdtemp(prefix="telecentre-influxdb-"))
        self.port = free_port()
        self.rpc_port = free_port()
        self.conf = self.workdir / "influxdb.conf"
        self.log = self.workdir / "influxd.log"
        self.conf.write_text(
            "reporting-disabled = true\n"
            f'bind-address = "127.0.0.1:{self.rpc_port}"\n'
            f'[meta]\n  dir = "{self.workdir}/meta"\n  logging-enabled = false\n'
            f'[data]\n  dir = "{self.workdir}/data"\n  wal-dir = "{self.workdir}/wal"\n'
            '  wal-fsync-delay = "0s"\n  query-log-enabled = false\n'
            "[monitor]\n  store-enabled = false\n"
            "[subscriber]\n  enabled = false\n"
            "[continuous_queries]\n  enabled = false\n"
            f'[http]\n  enabled = true\n  bind-address = "127.0.0.1:{self.port}"\n'
            "  auth-enabled = false\n  log-enabled = false\n  pprof-enabled = false\n"
            "  unix-socket-enabled = false\n"
            '[logging]\n  level = "warn"\n  suppress-logo = true\n'
            "[[graphite]]\n  enabled = false\n"
            "[[collectd]]\n  enabled = false\n"
            "[[opentsdb]]\n  enabled = false\n"
            "[[udp]]\n  enabled = false\n"
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                ["influxd", "run", "-config", str(self.conf)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
            )
        _wait_for_http(f"{self.url}/ping", self.process, self.log)

    def stop(self) -> None:
        _terminate(self.process)
        self.process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


class NginxProxy:
    """nginx on a free loopback port in front of InfluxDB 1.6, giving it the one v2 endpoint
    `influxdb-client` needs: `/api/v2/write?bucket=B&precision=P` becomes
    `/write?db=B&precision=P` (NOTES.md); `/query` and `/ping` pass through as they are.
    """

    def __init__(self, upstream_port: int) -> None:
        if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
            raise RuntimeError("nginx is not installed: run ./dev test, which installs it")
        self.workdir = Path(tempfile.mkdtemp(prefix="telecentre-nginx-"))
        self.port = free_port()
        self.conf = self.workdir / "nginx.conf"
        self.log = self.workdir / "error.log"
        work = self.workdir
        upstream = f"http://127.0.0.1:{upstream_port}"
        self.conf.write_text(
            # As root, nginx's workers would become `nobody`, who cannot read pytest's temp dirs.
            ("user root root;\n" if os.geteuid() == 0 else "")
            + "daemon off;\nmaster_process on;\nworker_processes 1;\n"
            f"pid {work}/nginx.pid;\n"
            f"error_log {self.log} warn;\n"
            "events { worker_connections 64; }\n"
            "http {\n"
            "  access_log off;\n"
            f"  client_body_temp_path {work}/client_body;\n"
            f"  proxy_temp_path {work}/proxy;\n"
            f"  fastcgi_temp_path {work}/fastcgi;\n"
            f"  uwsgi_temp_path {work}/uwsgi;\n"
            f"  scgi_temp_path {work}/scgi;\n"
            "  server {\n"
            f"    listen 127.0.0.1:{self.port};\n"
            "    location /api/v2/write {\n"
            # The trailing `?` drops the original arguments (org, bucket) from the new URI.
            "      rewrite ^ /write?db=$arg_bucket&precision=$arg_precision? break;\n"
            f"      proxy_pass {upstream};\n"
            "    }\n"
            f"    location = /query {{ proxy_pass {upstream}; }}\n"
            f"    location = /ping {{ proxy_pass {upstream}; }}\n"
            "    location / { return 404; }\n"
            "  }\n"
            "}\n"
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def binary(self) -> str:
        return shutil.which("nginx") or "/usr/sbin/nginx"

    def start(self) -> None:
        # `-e` names the error log used before the config is read (else /var/log/nginx/…).
        command = [self.binary, "-p", f"{self.workdir}/", "-e", str(self.log), "-c", str(self.conf)]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.workdir
        )
        _wait_for_http(f"{self.url}/ping", self.process, self.log)

    def stop(self) -> None:
        """A fast stop (SIGTERM): connections are closed at once, as when a proxy goes down."""
        _terminate(self.process)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def _terminate(process: subprocess.Popen[bytes] | None) -> None:
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _wait_for_http(
    url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 15.0
) -> None:
    """Until `url` answers 2xx; fails early, with the server's log, if the server exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            text = log.read_text(errors="replace") if log.exists() else ""
            raise RuntimeError(
                f"the server for {url} exited with {process.returncode}: {text[-2000:]}"
            )
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if 200 <= response.status < 300:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer after {timeout} s")


def influxql(
    base_url: str, query: str, database: str | None = None, epoch: str = "s"
) -> list[dict[str, Any]]:
    """Run InfluxQL on `/query` (POST, so that it may change things); the series of the first
    statement's result, each `{"name", "tags", "columns", "values"}`. An error raises."""
    fields = {"q": query, "epoch": epoch}
    if database is not None:
        fields["db"] = database
    request = urllib.request.Request(
        f"{base_url}/query", data=urllib.parse.urlencode(fields).encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        body = json.load(response)
    result = body["results"][0]
    if "error" in result:
        raise RuntimeError(f"InfluxQL {query!r}: {result['error']}")
    return list(result.get("series", []))


NGINX_FRONT_CONF = REPO / "deploy" / "nginx" / "telecentre-hub.conf"


class NginxFront:
    """nginx with the shipped `deploy/nginx/telecentre-hub.conf`, in front of a hub on
    `hub_port`: only its addresses, port, server name (`127.0.0.1`, the host clients ask
    for) and certificates change (a CA made for the test, `ca` to verify it); every limit
    and timeout is the shipped one."""

    #: The shipped lines a test run rewrites; the file must keep them, word for word (the
    #: certificate's twice: the hub's server and the default one that refuses other hosts).
    LISTEN = "    listen 443 ssl;\n"
    DEFAULT_LISTEN = "    listen 443 ssl default_server;\n"
    SERVER_NAME = "    server_name hub.example.org;\n"
    CERT = "    ssl_certificate /etc/ssl/telecentre/hub.crt;\n"
    KEY = "    ssl_certificate_key /etc/ssl/telecentre/hub.key;\n"
    UPSTREAM = "    server 127.0.0.1:8080;"
    #: The host name clients use (they connect to 127.0.0.1): the hub's server's name.
    HOST = "127.0.0.1"

    def __init__(self, hub_port: int) -> None:
        from deploy.local_broker import make_certificates

        self.workdir = Path(tempfile.mkdtemp(prefix="telecentre-nginx-front-"))
        make_certificates(self.workdir)
        self.ca = self.workdir / "ca.crt"
        self.port = free_port()
        self.log = self.workdir / "error.log"
        shipped = NGINX_FRONT_CONF.read_text()
        lines = {self.LISTEN: 1, self.DEFAULT_LISTEN: 1, self.SERVER_NAME: 1, self.CERT: 2,
                 self.KEY: 2, self.UPSTREAM: 1}  # fmt: skip
        for line, times in lines.items():
            if shipped.count(line) != times:
                raise ValueError(f"{NGINX_FRONT_CONF} no longer has {line.strip()!r} {times}×")
        site = (
            shipped.replace(self.LISTEN, f"    listen 127.0.0.1:{self.port} ssl;\n")
            .replace(self.DEFAULT_LISTEN, f"    listen 127.0.0.1:{self.port} ssl default_server;\n")
            .replace(self.SERVER_NAME, f"    server_name {self.HOST};\n")
            .replace(self.CERT, f"    ssl_certificate {self.workdir}/server.crt;\n")
            .replace(self.KEY, f"    ssl_certificate_key {self.workdir}/server.key;\n")
            .replace(self.UPSTREAM, f"    server 127.0.0.1:{hub_port};")
        )
        (self.workdir / "telecentre-hub.conf").write_text(site)
        work = self.workdir
        self.conf = work / "nginx.conf"
        self.conf.write_text(
            ("user root root;\n" if os.geteuid() == 0 else "")
            + "daemon off;\nmaster_process on;\nworker_processes 1;\n"
            f"pid {work}/nginx.pid;\nerror_log {self.log} warn;\n"
            "worker_rlimit_nofile 8192;\nevents { worker_connections 4096; }\n"
            "http {\n  access_log off;\n"
            f"  client_body_temp_path {work}/client_body;\n  proxy_temp_path {work}/proxy;\n"
            f"  fastcgi_temp_path {work}/fastcgi;\n  uwsgi_temp_path {work}/uwsgi;\n"
            f"  scgi_temp_path {work}/scgi;\n"
            f"  include {work}/telecentre-hub.conf;\n"
            "}\n"
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        command = [binary, "-p", f"{self.workdir}/", "-e", str(self.log), "-c", str(self.conf)]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.workdir
        )
        wait_for_port(self.port)
        if self.process.poll() is not None:
            raise RuntimeError(f"nginx exited: {self.log.read_text(errors='replace')[-2000:]}")

    def remove(self) -> None:
        _terminate(self.process)
        self.process = None
        shutil.rmtree(self.workdir, ignore_errors=True)
