"""`deploy/install-hub` run for real into a temporary prefix against this machine's own
PostgreSQL, Mosquitto and nginx: a second run changes nothing, and the broker, the hub and
nginx it set up answer over TLS on loopback with the certificates of the CA it made; a door
made by `deploy/add-device` connects with a real edge agent started from the files the script
wrote, and its tap travels broker → hub → API through nginx.

The wheel is built from this checkout as `./dev wheel` builds it; the prefix's venv finds the
hub's dependencies in the test's own venv (`INSTALL_HUB_PIP_ARGS=--no-deps`: no download)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import sysconfig
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.local_broker import mosquitto_binary
from hub.config import HubConfig
from telecentre.config import load_config
from tests.servers import REPO, Postgres, free_port, wait_for_port
from tests.waiting import wait_until

pytestmark = pytest.mark.timeout(600)


def _snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file the install wrote (not the venv's, nor logs), with its mode."""
    files = {}
    for path in sorted(root.rglob("*")):
        relative = str(path.relative_to(root))
        if relative.startswith(("opt/", "var/log/")) or not path.is_file():
            continue
        files[relative] = (path.read_bytes(), path.stat().st_mode)
    return files


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in reversed(started):
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_install_hub_twice_then_broker_hub_and_nginx_answer_over_tls(
    tmp_path: Path, postgres: Postgres, processes: list[subprocess.Popen[bytes]]
) -> None:
    prefix = tmp_path / "root"
    if os.geteuid() == 0:  # the services below stay root (their own users cannot read /tmp/…)
        tmp_path.chmod(0o755)
    dist = tmp_path / "dist"
    build = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir", str(dist)]
    subprocess.run([*build, str(REPO)], check=True, capture_output=True, timeout=300)
    wheel = next(dist.glob("telecentre-*.whl"))
    venv = prefix / "opt" / "telecentre" / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site_packages = next((venv / "lib").glob("python3*/site-packages"))
    (site_packages / "test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    hub_port, https_port, device_port, mqtt_port = (free_port() for _ in range(4))
    database = f"postgresql+psycopg://telecentre-hub@127.0.0.1:{postgres.port}/telecentre"
    command = [
        str(REPO / "deploy" / "install-hub"), "--prefix", str(prefix), "--hostname", "localhost",
        "--wheel", str(wheel),
        "--psql", f"psql -h 127.0.0.1 -p {postgres.port} -U postgres",
        "--database-url", database, "--hub-port", str(hub_port), "--https-port", str(https_port),
        "--device-port", str(device_port), "--hub-mqtt-port", str(mqtt_port),
    ]  # fmt: skip
    environ = {**os.environ, "INSTALL_HUB_PIP_ARGS": "--no-deps --no-index"}
    first = subprocess.run(command, capture_output=True, text=True, env=environ, timeout=300)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "PostgreSQL role telecentre-hub" in first.stdout
    installed = _snapshot(prefix)
    again = subprocess.run(command, capture_output=True, text=True, env=environ, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "install-hub: nothing to change" in again.stdout
    assert _snapshot(prefix) == installed
    etc = prefix / "etc"
    for secret in ("telecentre/hub.mqtt-password", "telecentre/api-tokens.yaml",
                   "telecentre/ca/ca.key", "mosquitto/telecentre-dynsec.json",
                   "var/lib/telecentre-hub/access-list.key"):  # fmt: skip
        path = prefix / secret if secret.startswith("var/") else etc / secret
        assert path.stat().st_mode & 0o077 == 0, secret
    # The shipped nginx site (its limits), with this host's name, certificate and ports.
    site = (etc / "nginx" / "sites-enabled" / "telecentre-hub.conf").read_text()
    assert "limit_req zone=telecentre_hub_req" in site and "server_name localhost;" in site
    assert f"server 127.0.0.1:{hub_port};" in site and f"listen {https_port} ssl;" in site
    assert f"listen {https_port} ssl default_server;" in site and "return 444;" in site
    # The hub's links lead to that name, the one nginx answers.
    config = load_config(HubConfig, etc / "telecentre" / "hub.yaml", environ={})
    assert config.links_root == f"https://localhost:{https_port}"

    # The broker as installed, its doors' listener with the CA's certificate for the host.
    processes.append(_broker(etc, device_port, mqtt_port))
    ca = ssl.create_default_context(cafile=str(etc / "telecentre" / "ca.crt"))
    with (
        socket.create_connection(("127.0.0.1", device_port), timeout=5) as raw,
        ca.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        assert tls.version() in ("TLSv1.2", "TLSv1.3")

    # The hub as installed: its config, its database on PostgreSQL, the broker's hub account.
    hub = [str(venv / "bin" / "telecentre-hub"), "--config", str(etc / "telecentre" / "hub.yaml")]
    log = (tmp_path / "hub.log").open("wb")
    processes.append(subprocess.Popen(hub, stdout=log, stderr=subprocess.STDOUT))
    wait_for_port(hub_port, timeout=60)

    # nginx as installed in front, over TLS with the CA's certificate.
    work = tmp_path / "nginx"
    work.mkdir()
    main = work / "nginx.conf"
    main.write_text(
        ("user root root;\n" if os.geteuid() == 0 else "")
        + f"daemon off;\npid {work}/nginx.pid;\nerror_log {work}/error.log warn;\n"
        "events { worker_connections 64; }\n"
        f"http {{\n  access_log off;\n  client_body_temp_path {work}/body;\n"
        f"  proxy_temp_path {work}/proxy;\n"
        f"  include {etc}/nginx/sites-enabled/*.conf;\n}}\n"
    )
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    processes.append(
        subprocess.Popen([nginx, "-p", f"{work}/", "-e", f"{work}/error.log", "-c", str(main)])
    )
    wait_for_port(https_port)
    base = f"https://localhost:{https_port}"
    with urllib.request.urlopen(f"{base}/api/v1/health", context=ca, timeout=10) as answer:
        health = json.load(answer)
    assert health["mqtt"] == "ok", health
    with urllib.request.urlopen(f"{base}/login", context=ca, timeout=10) as answer:
        assert answer.status == 200
    # A door over the internet side: its account, the ACL, a real edge agent over TLS.
    token = "install-test-" + "x" * 24
    (etc / "telecentre" / "api-tokens.yaml").write_text(
        f"{token}: {{role: department, name: essai}}\n"
    )  # read at the hub's start: restart it
    processes[1].terminate()
    processes[1].wait(timeout=30)
    processes[1] = subprocess.Popen(hub, stdout=log, stderr=subprocess.STDOUT)
    wait_for_port(hub_port, timeout=60)
    # The door: `deploy/add-device` as docs/operations.md runs it on the hub host, then the
    # broker restarted (its dynamic-security plugin reads the accounts at start only).
    edge_files = tmp_path / "edge-config" / "murat-door"
    added = subprocess.run(
        [str(REPO / "deploy" / "add-device"), "murat", "murat-door", "--host", "localhost",
         "--port", str(device_port), "--hub-config", str(etc / "telecentre" / "hub.yaml"),
         "--dynsec", str(etc / "mosquitto" / "telecentre-dynsec.json"),
         "--ca", str(etc / "mosquitto" / "certs" / "ca.crt"), "--out", str(edge_files),
         "--etc", str(edge_files)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    processes[0].terminate()
    processes[0].wait(timeout=30)
    processes[0] = _broker(etc, device_port, mqtt_port)
    # Installing again keeps the door's account (and changes nothing else).
    dynsec = (etc / "mosquitto" / "telecentre-dynsec.json").read_bytes()
    third = subprocess.run(command, capture_output=True, text=True, env=environ, timeout=300)
    assert "install-hub: nothing to change" in third.stdout, third.stdout + third.stderr
    assert (etc / "mosquitto" / "telecentre-dynsec.json").read_bytes() == dynsec
    api = _Api(base, token, ca)
    api.post("/api/v1/sites/import", (REPO / "deploy" / "demo" / "sites.yaml").read_bytes())
    api.post("/api/v1/members/import", (REPO / "deploy" / "demo" / "members.csv").read_bytes())
    door = _door(tmp_path, edge_files)
    processes.append(door)

    def online() -> bool:
        devices = api.get("/api/v1/devices")["devices"]
        return any(d["device"] == "murat-door" and d["health"] == "ok" for d in devices)

    wait_until(online, timeout=60, interval=0.25)  # under nginx's 20 requests a second
    assert door.stdin is not None
    door.stdin.write(b"04A2B3C4D5E6F7\n")  # M0001's card
    door.stdin.flush()

    def counted() -> bool:
        events = api.get("/api/v1/events?site=murat")["events"]
        return any(e["member_id"] == "M0001" and e["outcome"] == "counted" for e in events)

    wait_until(counted, timeout=30, interval=0.25)
    owner = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-p", str(postgres.port), "-U", "postgres", "-d", "telecentre",
         "-qtAc", "SELECT tableowner FROM pg_tables WHERE tablename = 'events'"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert owner == "telecentre-hub"


class _Api:
    """The hub's API through the installed nginx, over TLS, with a token."""

    def __init__(self, base: str, token: str, context: ssl.SSLContext) -> None:
        self.base, self.token, self.context = base, token, context

    def _call(self, request: urllib.request.Request) -> Any:
        request.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(request, context=self.context, timeout=30) as answer:
            return json.load(answer)

    def get(self, path: str) -> Any:
        return self._call(urllib.request.Request(self.base + path))

    def post(self, path: str, body: bytes) -> Any:
        return self._call(urllib.request.Request(self.base + path, data=body, method="POST"))


def _broker(etc: Path, device_port: int, mqtt_port: int) -> subprocess.Popen[bytes]:
    """Mosquitto as installed, once both its listeners answer."""
    broker = subprocess.Popen([mosquitto_binary(), "-c", str(etc / "mosquitto" / "mosquitto.conf")])
    wait_for_port(device_port)
    wait_for_port(mqtt_port)
    return broker


def _door(tmp_path: Path, files: Path) -> subprocess.Popen[bytes]:
    """A real edge agent on the installed broker's TLS listener, from the `edge.yaml`
    add-device wrote, completed as a Pi's installer does (here: mock pins, a stdin reader)."""
    config = yaml.safe_load((files / "edge.yaml").read_text())
    config |= {
        "state_dir": str(tmp_path / "edge-state"),
        "pins": "mock",
        "status_interval_s": 2,
        "readers": [{"id": "entrance", "type": "stdin", "direction": "toggle"}],
        "doors": [{"id": "main", "strike_pin": 27, "unlock_s": 1}],
        "clock": {"assume_synced": True},
    }
    (files / "edge.yaml").write_text(yaml.safe_dump(config))
    edge = str(Path(sys.executable).parent / "telecentre-edge")
    with (tmp_path / "edge.log").open("wb") as log:
        return subprocess.Popen(
            [edge, "--config", str(files / "edge.yaml")], stdin=subprocess.PIPE, stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
