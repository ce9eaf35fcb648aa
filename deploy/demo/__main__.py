"""`./dev demo`: a broker and simulated sites of the Cantal network, on this machine.

Starts Mosquitto with the shipped configuration (deploy/mosquitto/: a TLS listener for the
devices, with a CA made for the demo, and one for the hub), per-account passwords and the ACL;
the hub
(SQLite, the demo sites and members imported, its API on loopback); one edge agent per demo
site on simulated pins; and prints how to watch the traffic and query the API. The members
(`members.csv`) then live simulated working days (`people.py`: a home site, arrivals in the
morning, lunch out and back, a visit to another site now and then, never in two places at
once), typed as badge taps on each site's `stdin` reader, a day every minute or so. Ctrl-C
(or `--seconds N`) stops everything. State lives in `.demo/`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import yaml

from deploy.demo.people import Tap, people, taps_of_day, taps_per_day
from deploy.local_broker import LocalBroker
from telecentre import wire
from telecentre.private_files import write_private

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
#: The demo's day runs in a minute or so: the hub's debounce (60 s on a real site) is cut to
#: a second, and a member's taps are kept at least MIN_GAP_S apart.
DEBOUNCE_S = 1
MIN_GAP_S = 2.0


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


#: The read-only account the demo's own watchers use, on the devices' listener (the hub's is
#: taken by the hub: an account's client id is its name, and a second connection would take
#: the hub's place). It may read everything and publish nothing: only the hub opens a door.
WATCH = "demo-watch"


def start_broker(state: Path, devices: list[tuple[str, str]]) -> LocalBroker:
    """Mosquitto with the shipped configuration (deploy/mosquitto/): the devices' TLS listener
    with a CA made for the demo, the hub's listener, a password per account, the ACL."""
    server = LocalBroker(
        state / "broker",
        devices,
        hub_users=("hub",),
        watchers=(WATCH,),
        device_port=8883 if port_free(8883) else 18883,
        hub_port=1883 if port_free(1883) else 18830,
    )
    server.start()
    return server


def hub_config(state: Path, broker: LocalBroker, http_port: int) -> tuple[Path, str]:
    """The hub's config, with a department API token made for this demo (kept in `.demo/`)."""
    token_file = state / "secrets" / "api-token"
    token_file.parent.mkdir(mode=0o700, exist_ok=True)
    if not token_file.exists():
        token_file.write_text(secrets.token_urlsafe(24))
        token_file.chmod(0o600)
    token = token_file.read_text()
    path = state / "hub.yaml"
    config = {
        "state_dir": str(state / "hub"),
        "mqtt": {
            "host": "127.0.0.1",
            "port": broker.hub_port,
            "username": "hub",
            "password_file": str(broker.password_file("hub")),
        },
        "http": {"host": "127.0.0.1", "port": http_port},
        "sites_file": str(HERE / "sites.yaml"),
        "api_tokens": {token: "department"},
        "rules": {"debounce_s": DEBOUNCE_S},
    }
    # It holds the department's token: the hub refuses to start on it if others may read it.
    write_private(path, yaml.safe_dump(config, sort_keys=False).encode())
    return path, token


def wait_for_health(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/api/v1/health", timeout=2) as answer:
                if json.load(answer).get("mqtt") == "ok":
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"demo: the hub did not answer on {url} within {timeout:.0f} s")


def wait_for_access_lists(
    broker: LocalBroker, devices: list[tuple[str, str]], timeout: float = 60
) -> None:
    """Taps start once every door holds its site's list (the version its status reports),
    so that the demo's first members are not refused as unknown."""
    watch = subprocess.Popen(
        [
            "mosquitto_sub",
            "-h",
            "127.0.0.1",
            "-p",
            str(broker.device_port),
            "--cafile",
            str(broker.ca),
            "-u",
            WATCH,
            "-P",
            broker.password(WATCH),
            "-W",
            str(int(timeout)),
            "-t",
            wire.status_topic("+", "+"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    waiting = {device for _, device in devices}
    assert watch.stdout is not None
    for line in watch.stdout:
        try:
            status = wire.parse_status(line)
        except wire.ProtocolError:
            continue
        if status.state == "online" and status.access_version is not None:
            waiting.discard(status.device)
        if not waiting:
            break
    watch.terminate()
    if waiting:
        print(f"demo: no access list reached {', '.join(sorted(waiting))} yet", file=sys.stderr)


#: The console logins the demo makes at its first start: (login, role, sites, name).
CONSOLE_LOGINS = [
    ("animatrice", "animator", ["murat"], "Léa, animatrice à Murat"),
    ("departement", "department", [], "Service numérique du Département"),
]


def console_logins(state: Path, hub: list[str]) -> tuple[list[tuple[str, str, str]], bool]:
    """The demo's console logins `(login, role, password)`, made with random passwords at the
    first start and kept in `.demo/secrets/console-logins` (0600); whether they are new."""
    kept = state / "secrets" / "console-logins"
    kept.parent.mkdir(mode=0o700, exist_ok=True)
    if kept.exists():
        lines = kept.read_text(encoding="utf-8").splitlines()
        return [(a, b, c) for a, b, c in (line.split("\t") for line in lines if line)], False
    made = []
    for login, role, sites, name in CONSOLE_LOGINS:
        password = secrets.token_urlsafe(12)
        site_args = [arg for site in sites for arg in ("--site", site)]
        subprocess.run(
            [*hub, "user", "add", login, "--role", role, *site_args, "--name", name],
            input=password + "\n",
            text=True,
            check=True,
            capture_output=True,
        )
        made.append((login, role, password))
    descriptor = os.open(kept, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.writelines(f"{login}\t{role}\t{password}\n" for login, role, password in made)
    return made, True


def tap_example(broker: LocalBroker, site: str, device: str) -> str:
    """A `mosquitto_pub` line that taps a member's badge at `site` as its door would (its
    account, on the devices' TLS listener): the shell makes a new event id and time stamp
    each time it is run."""
    event = wire.badge_event(
        site=site, device=device, badge="04A2B3C4D5E6F7", reader="entrance",
        direction="toggle", access="granted", clock_synced=True,
    )  # fmt: skip
    event |= {"id": "@ID@", "ts": "@TS@", "seq": 1_000_000}
    payload = (
        json.dumps(event, separators=(",", ":"))
        .replace('"', '\\"')
        .replace("@ID@", "$(cat /proc/sys/kernel/random/uuid)")
        .replace("@TS@", "$(date -Iseconds)")
    )
    return (
        f"mosquitto_pub -h 127.0.0.1 -p {broker.device_port} --cafile {broker.ca} -q 1 "
        f'-u {device} -P "$(cat {broker.password_file(device)})" \\\n'
        f'      -t {wire.events_topic(site, device)} -m "{payload}"'
    )


def edge_config(state: Path, broker: LocalBroker, site: str, device: str, hub_key: str) -> Path:
    path = state / f"{device}.yaml"
    config = {
        "site": site,
        "device": device,
        "mqtt": {
            "host": "127.0.0.1",
            "port": broker.device_port,
            "username": device,
            "password_file": str(broker.password_file(device)),
            "tls": {"ca": str(broker.ca)},
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
        # The doors obey only lists signed by this hub's key (`telecentre-hub keys init`).
        "access": {"hub_public_keys": [hub_key]},
        # The demo's Pis are simulated on this machine, whose clock is right even where its
        # kernel does not report NTP (a container): their events are not held for the clock.
        "clock": {"assume_synced": True},
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def members(path: Path) -> list[tuple[str, str]]:
    """(member id, first badge) of each member in the members CSV."""
    rows = path.read_text(encoding="utf-8").splitlines()[1:]
    return [(row.split(",")[0], row.split(",")[-1].split(";")[0].strip()) for row in rows]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./dev demo", description=__doc__)
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long")
    parser.add_argument("--tap-every", type=float, default=2.0, help="mean seconds between taps")
    parser.add_argument("--seed", type=int, default=7, help="the simulated days' random seed")
    parser.add_argument("--state", type=Path, default=REPO / ".demo")
    args = parser.parse_args(argv)

    state: Path = args.state
    state.mkdir(parents=True, exist_ok=True)
    sites = yaml.safe_load((HERE / "sites.yaml").read_text(encoding="utf-8"))["sites"]
    devices = [(site["id"], f"{site['id']}-door") for site in sites]
    http_port = 8080 if port_free(8080) else 18080
    broker = start_broker(state, devices)
    processes: list[subprocess.Popen[bytes]] = []
    status = 0
    bin_dir = Path(sys.executable).parent
    try:
        config, token = hub_config(state, broker, http_port)
        hub = [str(bin_dir / "telecentre-hub"), "--config", str(config)]
        hub_key = subprocess.run(
            [*hub, "keys", "init"], check=True, capture_output=True, text=True
        ).stdout.strip()
        subprocess.run([*hub, "import-sites", str(HERE / "sites.yaml")], check=True)
        subprocess.run([*hub, "import-members", str(HERE / "members.csv")], check=True)
        logins, new_logins = console_logins(state, hub)
        processes.append(subprocess.Popen(hub))
        api = f"http://127.0.0.1:{http_port}"
        wait_for_health(api)
        agents = {
            site: subprocess.Popen(
                [
                    str(bin_dir / "telecentre-edge"),
                    "--config",
                    str(edge_config(state, broker, site, device, hub_key)),
                ],
                stdin=subprocess.PIPE,
            )
            for site, device in devices
        }
        processes += agents.values()
        wait_for_access_lists(broker, devices)
        watch = broker.password_file(WATCH)
        if new_logins:
            shown = "".join(
                f"    {login:<12} {password}   ({role})\n" for login, role, password in logins
            )
            kept = state / "secrets" / "console-logins"
            accounts = f"  Console logins (shown this once, kept in {kept}):\n{shown}"
        else:
            accounts = f"  Console logins: in {state}/secrets/console-logins\n"
        print(
            f"\n  Demo running: broker on 127.0.0.1 (devices: TLS on {broker.device_port}, "
            f"hub: {broker.hub_port}), hub API on {api}, "
            f"{len(agents)} sites ({', '.join(agents)}).\n"
            f"  Staff console:      {api}/\n"
            f"{accounts}"
            f"  Tap a badge at Murat as its door does:\n"
            f"    {tap_example(broker, 'murat', 'murat-door')}\n"
            f"  Watch the traffic:  mosquitto_sub -h 127.0.0.1 -p {broker.device_port} "
            f"--cafile {broker.ca} -u {WATCH} -P \"$(cat {watch})\" -t 'telecentre/#' -v\n"
            f"  Ask the hub:        curl -H 'Authorization: Bearer {token}' \\\n"
            f"                        {api}/api/v1/occupancy\n"
            f"  Demo API token (department): {token}\n"
            "  Ctrl-C stops the demo.\n",
            flush=True,
        )
        crowd = people(members(HERE / "members.csv"), list(agents))
        rng = random.Random(args.seed)
        started = time.monotonic()
        stop_at = None if args.seconds is None else started + args.seconds
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        day, schedule = 0, list[Tap]()
        next_day_at = 0.0
        while stop_at is None or time.monotonic() < stop_at:
            dead = [process.args for process in processes if process.poll() is not None]
            if dead:
                print(f"demo: stopped unexpectedly: {dead[0]!r}", file=sys.stderr)
                status = 1
                break
            if not schedule:
                day += 1
                day_s = taps_per_day(crowd) * args.tap_every
                schedule = taps_of_day(crowd, list(agents), rng, next_day_at, day_s, MIN_GAP_S)
                next_day_at = max(next_day_at + day_s, schedule[-1].at + MIN_GAP_S)
                print(f"  simulated day {day}: {len(schedule)} taps in {day_s:.0f} s", flush=True)
            due = started + schedule[0].at
            if time.monotonic() < due:
                time.sleep(min(0.5, due - time.monotonic()))
                continue
            tap = schedule.pop(0)
            agent = agents[tap.site]
            if agent.stdin is not None and agent.poll() is None:
                agent.stdin.write(f"{tap.badge}\n".encode())
                agent.stdin.flush()
    except KeyboardInterrupt:
        pass
    finally:
        for process in reversed(processes):  # agents, then the hub, then the broker
            if process.poll() is None:
                process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        broker.stop()
        print(json.dumps({"demo": "stopped"}))
    return status


if __name__ == "__main__":
    sys.exit(main())
