"""`./dev demo`: a broker and simulated sites of the Cantal network, on this machine.

Starts Mosquitto with the project's settings, per-device passwords and the ACL; one edge
agent per demo site on simulated pins, fed badge taps on its `stdin` reader; and prints how
to watch the traffic. Ctrl-C (or `--seconds N`) stops everything. State lives in `.demo/`.
"""

from __future__ import annotations

import argparse
import csv
import getpass
import json
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from telecentre import broker, wire

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
LIMITS = REPO / "deploy" / "mosquitto" / "limits.conf"


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not (not port_free(port) or time.monotonic() > deadline):
        time.sleep(0.05)
    if port_free(port):
        raise SystemExit(f"demo: the broker did not start on port {port}")


def mosquitto_binary() -> str:
    return shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def start_broker(state: Path, port: int, devices: list[tuple[str, str]]) -> subprocess.Popen[bytes]:
    """Mosquitto with a password per device and the ACL; anonymous clients may only watch."""
    secrets_dir = state / "secrets"
    secrets_dir.mkdir(parents=True, exist_ok=True)
    passwd = state / "mosquitto.passwd"
    passwd.unlink(missing_ok=True)
    for user in ["hub", *(device for _, device in devices)]:
        password_file = secrets_dir / f"{user}.password"
        if not password_file.exists():
            password_file.write_text(secrets.token_urlsafe(18))
            password_file.chmod(0o600)
        subprocess.run(
            [
                "mosquitto_passwd",
                "-b",
                *([] if passwd.exists() else ["-c"]),
                str(passwd),
                user,
                password_file.read_text(),
            ],
            check=True,
        )
    passwd.chmod(0o600)
    acl = state / "mosquitto.acl"
    acl.write_text(f"topic read {wire.ROOT}/#\n\n" + broker.acl(devices))
    conf = state / "mosquitto.conf"
    (state / "broker").mkdir(exist_ok=True)
    conf.write_text(
        f"{LIMITS.read_text()}\n"
        f"user {getpass.getuser()}\n"  # as root, stay root: the state dir is ours
        f"persistence_location {state / 'broker'}/\n"
        f"log_dest file {state / 'mosquitto.log'}\n"
        f"listener {port} 127.0.0.1\n"
        "allow_anonymous true\n"
        f"password_file {passwd}\n"
        f"acl_file {acl}\n"
    )
    process = subprocess.Popen([mosquitto_binary(), "-c", str(conf)])
    wait_for_port(port)
    return process


def demo_access_lists(sites: list[dict[str, Any]], members_csv: Path) -> list[wire.AccessList]:
    """Until the hub runs in the demo, the demo itself plays the hub's part of the lists."""
    with members_csv.open(encoding="utf-8") as file:
        members = list(csv.DictReader(file))
    issued = datetime.now(UTC).astimezone()
    lists = []
    for site in sites:
        badges = [
            wire.AccessEntry(
                badge=badge,
                until=member["pass_until"] or None,
                hours="always" if member["pass_since"] else "opening",
            )
            for member in members
            for badge in member["badges"].split(";")
        ]
        lists.append(
            wire.AccessList(
                v=1,
                site=site["id"],
                version=int(issued.timestamp()),
                issued=issued,
                timezone=site.get("timezone", "Europe/Paris"),
                opening=site.get("opening", {}),
                closed=site.get("closed", []),
                badges=badges,
            )
        )
    return lists


def publish_retained(port: int, state: Path, topic: str, payload: bytes) -> None:
    subprocess.run(
        [
            "mosquitto_pub",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-u",
            "hub",
            "-P",
            (state / "secrets" / "hub.password").read_text(),
            "-q",
            "1",
            "-r",
            "-t",
            topic,
            "-s",
        ],
        input=payload,
        check=True,
    )


def edge_config(state: Path, port: int, site: str, device: str) -> Path:
    path = state / f"{device}.yaml"
    config = {
        "site": site,
        "device": device,
        "mqtt": {
            "host": "127.0.0.1",
            "port": port,
            "username": device,
            "password_file": str(state / "secrets" / f"{device}.password"),
        },
        "state_dir": str(state / device),
        "pins": "simulated",
        "status_interval_s": 15,
        "readers": [{"id": "entrance", "type": "stdin", "direction": "toggle"}],
        "doors": [
            {
                "id": "main",
                "sensor_pin": 17,
                "strike_pin": 27,
                "exit_pin": 22,
                "unlock_s": 3,
                "held_open_s": 60,
            }
        ],
        "feedback": {"green_led_pin": 5, "red_led_pin": 6, "buzzer_pin": 13},
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./dev demo", description=__doc__)
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long")
    parser.add_argument("--tap-every", type=float, default=2.0, help="mean seconds between taps")
    parser.add_argument("--state", type=Path, default=REPO / ".demo")
    args = parser.parse_args(argv)

    state: Path = args.state
    state.mkdir(parents=True, exist_ok=True)
    sites = yaml.safe_load((HERE / "sites.yaml").read_text(encoding="utf-8"))["sites"]
    devices = [(site["id"], f"{site['id']}-door") for site in sites]
    port = 1883 if port_free(1883) else 18830
    processes: list[subprocess.Popen[bytes]] = [start_broker(state, port, devices)]
    try:
        for access in demo_access_lists(sites, HERE / "members.csv"):
            publish_retained(port, state, wire.access_topic(access.site), wire.encode(access))
        agents = {
            site: subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "telecentre-edge"),
                    "--config",
                    str(edge_config(state, port, site, device)),
                ],
                stdin=subprocess.PIPE,
            )
            for site, device in devices
        }
        processes += agents.values()
        print(
            f"\n  Demo running: broker on 127.0.0.1:{port}, {len(agents)} sites "
            f"({', '.join(agents)}).\n"
            f"  Watch the traffic:  mosquitto_sub -h 127.0.0.1 -p {port} -t 'telecentre/#' -v\n"
            "  Ctrl-C stops the demo.\n",
            flush=True,
        )
        badges = [
            line.split(",")[-1].split(";")[0].strip()
            for line in (HERE / "members.csv").read_text().splitlines()[1:]
        ]
        badges.append("0BADC0DE")  # a card nobody enrolled: denied
        stop_at = None if args.seconds is None else time.monotonic() + args.seconds
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        while stop_at is None or time.monotonic() < stop_at:
            agent = agents[random.choice(list(agents))]
            if agent.stdin is not None and agent.poll() is None:
                agent.stdin.write(f"{random.choice(badges)}\n".encode())
                agent.stdin.flush()
            time.sleep(random.expovariate(1 / args.tap_every))
    except KeyboardInterrupt:
        pass
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        print(json.dumps({"demo": "stopped"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
