"""`./dev demo`: the CyberCantal network on this machine, with a year behind it.

Starts Mosquitto with the shipped configuration (deploy/mosquitto/: a TLS listener for the
doors, with a CA made for the demo, and the hub's listener), the hub (SQLite, the twelve
sites of `network.yaml`, its console and API on loopback) and one edge agent per site on
simulated pins. At the first start it imports the network's past, from the 1st of January of
last year to now (`year.py`: members with home sites, working days, lunch breaks, holidays,
the odd forgotten check-out, double tap and unknown card), as the doors would have sent it;
then the members' taps of today go on live on the doors' readers, at the pace of the day
(`--pace` to speed it up), a door left open now and then. A later start imports the days it
was stopped. `./dev tap SITE [BADGE]` hands a card to a site's door (`deploy/demo/tap.py`).
Ctrl-C (or `--seconds N`) stops everything. State and logs live in `.demo/`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import secrets
import selectors
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import yaml

from deploy.demo.live import LiveDay
from deploy.demo.year import NETWORK, Member, members, members_csv, network_sites, taps_between
from deploy.demo.year import past_events as make_past_events
from deploy.local_broker import LocalBroker
from edge.outbox import Outbox
from telecentre import wire
from telecentre.private_files import replace_private

REPO = Path(__file__).resolve().parents[2]
#: The read-only account the demo's own watchers use, on the devices' listener: it may read
#: everything and publish nothing (only the hub opens a door).
WATCH = "demo-watch"
#: The card `./dev tap SITE` presents when given none: a visitor with a Pass, in no one's day.
VISITOR = "0DE40DE4"
#: The raw events of the imported past must not be quarantined as `too_old` (older than the
#: retention period at receipt): the demo keeps them longer than production's 90 days.
DEMO_EVENTS_RETENTION_DAYS = 800
#: One walk-through in this many leaves a door open past `held_open_s` (an alarm).
DOOR_LEFT_OPEN_EVERY = 15
CONSOLE_LOGINS = [
    ("animatrice", "animator", ["murat"], "Léa, animatrice à Murat"),
    ("departement", "department", [], "Service numérique du Département"),
    ("admin", "admin", [], "Administrateur de la démo"),
]


class Stop(Exception):
    """SIGTERM: stop as Ctrl-C does."""


def _stop(_signum: int, _frame: FrameType | None) -> None:
    raise Stop


def port(preferred: int | None) -> int:
    """`preferred` if nothing listens on it now, else a port the system picks: whoever takes
    it in between is caught later (the broker or the hub exits, and the demo retries)."""
    if preferred is not None:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", preferred)) != 0:
                return preferred
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Demo:
    def __init__(self, state: Path, seed: int) -> None:
        self.state = state
        self.seed = seed
        self.logs = state / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.sites = network_sites()
        self.devices = [(site.id, site.device) for site in self.sites.values()]
        self.processes: list[subprocess.Popen[bytes]] = []
        self.broker: LocalBroker | None = None
        self.agents: dict[str, subprocess.Popen[bytes]] = {}
        self.token = ""
        self.api = ""

    # -- children --------------------------------------------------------------------------

    def spawn(self, args: list[str], log: str, stdin: int | None = None) -> subprocess.Popen[bytes]:
        """A child in its own process group, so that a terminal's Ctrl-C reaches only the demo,
        which then stops its children in order (doors, hub, broker)."""
        with (self.logs / log).open("ab") as out:
            process = subprocess.Popen(
                args, stdin=stdin, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.processes.append(process)
        return process

    def stop_all(self) -> None:
        for process in reversed(self.processes):  # doors, then the hub
            if process.poll() is None:
                process.terminate()
        for process in reversed(self.processes):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        if self.broker is not None:
            self.broker.stop()

    def hub(self, *command: str) -> list[str]:
        return [
            str(Path(sys.executable).parent / "telecentre-hub"),
            "--config",
            str(self.config),
            *command,
        ]

    def run(self, *command: str, input_text: str | None = None) -> str:
        """A hub command; its output and errors go to `.demo/logs/commands.log`."""
        done = subprocess.run(
            self.hub(*command), input=input_text, capture_output=True, text=True,
            start_new_session=True,
        )  # fmt: skip
        with (self.logs / "commands.log").open("a", encoding="utf-8") as log:
            log.write(f"$ telecentre-hub {' '.join(command)}\n{done.stdout}{done.stderr}")
        if done.returncode != 0:
            raise SystemExit(f"demo: telecentre-hub {command[0]} failed: {done.stderr.strip()}")
        return done.stdout

    # -- broker and hub --------------------------------------------------------------------

    def start_broker(self) -> LocalBroker:
        for attempt in range(3):
            broker = LocalBroker(
                self.state / "broker",
                self.devices,
                hub_users=("hub",),
                watchers=(WATCH,),
                device_port=port(8883 if attempt == 0 else None),
                hub_port=port(1883 if attempt == 0 else None),
            )
            try:
                broker.start()
            except (RuntimeError, TimeoutError):
                broker.stop()
                continue
            self.broker = broker
            return broker
        raise SystemExit(f"demo: the broker would not start: see {self.state / 'broker'}")

    @property
    def config(self) -> Path:
        return self.state / "hub.yaml"

    def write_config(self, broker: LocalBroker, http_port: int) -> None:
        token_file = self.state / "secrets" / "api-token"
        if not token_file.exists():
            replace_private(token_file, secrets.token_urlsafe(24).encode())
        self.token = token_file.read_text()
        config = {
            "state_dir": str(self.state / "hub"),
            "mqtt": {
                "host": "127.0.0.1",
                "port": broker.hub_port,
                "username": "hub",
                "password_file": str(broker.password_file("hub")),
            },
            "http": {"host": "127.0.0.1", "port": http_port},
            "sites_file": str(NETWORK),
            "api_tokens": {self.token: "department"},
            "retention": {"events_retention_days": DEMO_EVENTS_RETENTION_DAYS},
        }
        # It holds the department's token: the hub's user only.
        replace_private(self.config, yaml.safe_dump(config, sort_keys=False).encode())
        self.api = f"http://127.0.0.1:{http_port}"

    def ask(self, path: str) -> Any:
        request = urllib.request.Request(
            self.api + path, headers={"Authorization": f"Bearer {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=5) as answer:
            return json.load(answer)

    def start_hub(self, broker: LocalBroker) -> None:
        """The hub, on 8080 if free; it is taken as started once it answers the demo's own
        token (so not another program that took the port meanwhile)."""
        for attempt in range(3):
            self.write_config(broker, port(8080 if attempt == 0 else None))
            process = self.spawn(self.hub(), "hub.log")
            deadline = time.monotonic() + 90
            while process.poll() is None and time.monotonic() < deadline:
                with contextlib.suppress(OSError, ValueError):
                    if self.ask("/api/v1/health").get("mqtt") == "ok":
                        self.ask("/api/v1/occupancy")  # a 401 from another program: not ours
                        return
                time.sleep(0.3)
            if process.poll() is None:
                raise SystemExit(f"demo: the hub did not answer: see {self.logs / 'hub.log'}")
            self.processes.remove(process)
        raise SystemExit(f"demo: the hub would not start: see {self.logs / 'hub.log'}")

    # -- people ----------------------------------------------------------------------------

    def crowd(self) -> list[Member]:
        return members(self.sites, self.seed)

    def first_start(self, crowd: list[Member]) -> list[tuple[str, str, str]]:
        """Key, sites, members and console logins (made once; the logins kept, 0600)."""
        self.run("keys", "init")
        self.run("import-sites", str(NETWORK))
        members_file = self.state / "members.csv"
        visitor = (
            f"V0001,Visiteuse,Démo,visiteuse@example.org,other,2024-01-01,2099-12-31,{VISITOR},\n"
        )
        replace_private(members_file, (members_csv(crowd) + visitor).encode())
        self.run("import-members", str(members_file))
        kept = self.state / "secrets" / "console-logins"
        if not kept.exists():
            made = []
            for login, role, sites, name in CONSOLE_LOGINS:
                password = secrets.token_urlsafe(12)
                site_args = [arg for site in sites for arg in ("--site", site)]
                self.run("user", "add", login, "--role", role, *site_args, "--name", name,
                         input_text=password + "\n")  # fmt: skip
                made.append(f"{login}\t{role}\t{password}\n")
            replace_private(kept, "".join(made).encode())
        lines = kept.read_text(encoding="utf-8").splitlines()
        return [(a, b, c) for a, b, c in (line.split("\t") for line in lines if line)]

    def import_past(self, crowd: list[Member], now: datetime) -> str:
        """The network's taps from where the last run stopped (the 1st of January of last
        year at the first start) to now, as the doors would have sent them; each door's
        outbox then numbers its next event after them. A file not yet imported (the demo
        stopped meanwhile) is imported again as it is: its ids and seqs are already given."""
        past = self.state / "past"
        pending = past / "pending.jsonl"
        until_file = past / "until"
        seen_before = until_file.exists()
        if not pending.exists():
            since = datetime(now.year - 1, 1, 1, tzinfo=self.sites["murat"].rules.zone)
            if seen_before:
                try:
                    since = datetime.fromisoformat(until_file.read_text())
                except ValueError:
                    raise SystemExit(
                        f"demo: {until_file} is damaged: `rm -rf {self.state}` starts afresh"
                    ) from None
            seqs = {device: self.outbox_seq(device) + 1 for _, device in self.devices}
            lines, after = make_past_events(
                taps_between(since, now, crowd, self.sites, self.seed), seqs, self.seed
            )
            replace_private(pending, b"".join(line + b"\n" for line in lines))
            replace_private(past / "seqs.json", json.dumps(after).encode())
            replace_private(past / "pending-until", now.isoformat().encode())
        for device, following in json.loads((past / "seqs.json").read_text()).items():
            self.continue_outbox(device, following - 1)
        count = pending.read_bytes().count(b"\n")
        if count:
            print(f"  Importing {count:,} taps of the network's past (about {count // 900 + 1} s)…",
                  flush=True)  # fmt: skip
            with (self.logs / "commands.log").open("ab") as log:
                done = subprocess.run(
                    self.hub("import-events", str(pending)), stdout=log,
                    stderr=None if sys.stderr.isatty() else log, start_new_session=True,
                )  # fmt: skip
            if done.returncode != 0:
                raise SystemExit(f"demo: the past was not imported: see {self.logs}")
        (past / "pending-until").replace(until_file)
        pending.unlink()
        first = "the network's past" if not seen_before else "the days the demo was stopped"
        return f"{first} imported: {count:,} taps"

    def outbox(self, device: str) -> Outbox:
        return Outbox(self.state / device / "outbox.db")

    def outbox_seq(self, device: str) -> int:
        box = self.outbox(device)
        try:
            return box.last_seq()
        finally:
            box.close()

    def continue_outbox(self, device: str, seq: int) -> None:
        box = self.outbox(device)
        try:
            box.continue_after(seq)
        finally:
            box.close()

    # -- doors -----------------------------------------------------------------------------

    def edge_config(self, broker: LocalBroker, site: str, device: str, hub_key: str) -> Path:
        path = self.state / f"{device}.yaml"
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
            "state_dir": str(self.state / device),
            "pins": "simulated",
            "simulation": {"door_left_open_every": DOOR_LEFT_OPEN_EVERY},
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
            # Simulated on this machine, whose clock is right even where its kernel does not
            # report NTP (a container): their events are not held for the clock.
            "clock": {"assume_synced": True},
        }
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    def start_doors(self, broker: LocalBroker) -> None:
        hub_key = self.run("keys", "public").strip()
        binary = str(Path(sys.executable).parent / "telecentre-edge")
        for site, device in self.devices:
            config = self.edge_config(broker, site, device, hub_key)
            self.agents[site] = self.spawn(
                [binary, "--config", str(config)], f"{device}.log", stdin=subprocess.PIPE
            )

    def wait_for_access_lists(self, broker: LocalBroker, timeout: float = 60) -> None:
        """Taps start once every door holds its site's list (its status says which)."""
        watch = subprocess.Popen(
            ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.device_port),
             "--cafile", str(broker.ca), "-u", WATCH,
             "-P", broker.password(WATCH), "-W", str(int(timeout)),
             "-t", wire.status_topic("+", "+")],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True,
        )  # fmt: skip
        waiting = {device for _, device in self.devices}
        try:
            assert watch.stdout is not None
            for line in watch.stdout:
                with contextlib.suppress(wire.ProtocolError):
                    status = wire.parse_status(line)
                    if status.state == "online" and status.access_version is not None:
                        waiting.discard(status.device)
                if not waiting:
                    break
        finally:
            watch.terminate()
            watch.wait(timeout=10)  # reaped: no defunct child for the demo's whole life
        if waiting:
            print(f"  (no access list reached {', '.join(sorted(waiting))} yet)", flush=True)

    def present(self, site: str, badge: str) -> bool:
        agent = self.agents.get(site)
        if agent is None or agent.stdin is None or agent.poll() is not None:
            return False
        agent.stdin.write(f"{badge}\n".encode())
        agent.stdin.flush()
        return True


@contextlib.contextmanager
def tap_socket(path: Path) -> Iterator[socket.socket]:
    """`.demo/tap.sock`: where `./dev tap` hands the demo a card for a site's reader."""
    path.unlink(missing_ok=True)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    path.chmod(0o600)
    server.listen(8)
    server.setblocking(False)
    try:
        yield server
    finally:
        server.close()
        path.unlink(missing_ok=True)


def serve_tap(demo: Demo, server: socket.socket) -> None:
    """One request: `{"site", "badge"}` in, `{"ok", "device"}` or `{"error"}` out."""
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        connection, _ = server.accept()
        with connection:
            connection.settimeout(2)
            request = json.loads(connection.makefile("rb").readline(4096))
            site, badge = str(request["site"]), str(request.get("badge") or VISITOR).upper()
            if site not in demo.sites:
                answer: dict[str, Any] = {"error": f"no site {site!r}: {', '.join(demo.sites)}"}
            elif not 8 <= len(badge) <= 20 or any(c not in "0123456789ABCDEF" for c in badge):
                answer = {"error": f"{badge!r} is not a badge UID (8 to 20 hex digits)"}
            elif not request.get("peek") and not demo.present(site, badge):
                answer = {"error": f"the door of {site} is not running"}
            else:
                answer = {"ok": True, "device": demo.sites[site].device, "badge": badge,
                          "api": demo.api, "token": demo.token}  # fmt: skip
            connection.sendall(json.dumps(answer).encode() + b"\n")


def announce(
    demo: Demo, broker: LocalBroker, logins: list[tuple[str, str, str]], past: str
) -> None:
    names = {"animator": "animatrice, Murat", "department": "Département", "admin": "admin"}
    shown = "".join(
        f"      {login:<12} {password:<18} ({names.get(role, role)})\n"
        for login, role, password in logins
    )
    watch = broker.password_file(WATCH)
    print(
        f"\n  Demo running: the {len(demo.sites)} sites of the Cantal network ({past}), "
        f"their doors on the broker (TLS on {broker.device_port}, hub listener on "
        f"{broker.hub_port}).\n"
        f"  Staff console:  {demo.api}/\n"
        f"    logins (kept in {demo.state / 'secrets' / 'console-logins'}):\n{shown}"
        f"  Tap a card:     ./dev tap murat            (a visitor's card; "
        f"./dev tap SITE BADGE for another)\n"
        f"  Watch traffic:  mosquitto_sub -h 127.0.0.1 -p {broker.device_port} "
        f"--cafile {broker.ca} -u {WATCH} -P \"$(cat {watch})\" -t 'telecentre/#' -v\n"
        f"  Ask the API:    curl -H 'Authorization: Bearer {demo.token}' "
        f"{demo.api}/api/v1/occupancy\n"
        f"  Logs in {demo.logs}/. Ctrl-C stops the demo.\n",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./dev demo", description=__doc__)
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long")
    parser.add_argument(
        "--pace", type=float, default=1.0, help="the live day runs this many times faster"
    )
    parser.add_argument("--seed", type=int, default=7, help="the members' and days' seed")
    parser.add_argument("--state", type=Path, default=REPO / ".demo")
    args = parser.parse_args(argv)
    if args.pace <= 0:
        parser.error("--pace must be positive")
    signal.signal(signal.SIGTERM, _stop)
    state: Path = args.state.resolve()
    state.mkdir(parents=True, exist_ok=True)
    demo = Demo(state, args.seed)
    crowd = demo.crowd()
    try:
        broker = demo.start_broker()
        demo.write_config(broker, 8080)
        logins = demo.first_start(crowd)
        now = datetime.now(UTC).astimezone(demo.sites["murat"].rules.zone)
        past = demo.import_past(crowd, now)
        demo.start_hub(broker)
        demo.start_doors(broker)
        demo.wait_for_access_lists(broker)
        announce(demo, broker, logins, past)
        return live(demo, crowd, now, args)
    except (KeyboardInterrupt, Stop):
        return 0
    finally:
        demo.stop_all()


def live(demo: Demo, crowd: list[Member], now: datetime, args: argparse.Namespace) -> int:
    """Today's taps on the doors' readers as they fall due; `./dev tap` requests between."""
    day = LiveDay(crowd, demo.sites, args.seed, now, args.pace)
    until_file = demo.state / "past" / "until"
    stop_at = None if args.seconds is None else time.monotonic() + args.seconds
    selector = selectors.DefaultSelector()
    with tap_socket(demo.state / "tap.sock") as server, _kept_until(until_file, day):
        selector.register(server, selectors.EVENT_READ)
        marked = time.monotonic()
        while stop_at is None or time.monotonic() < stop_at:
            dead = [p for p in demo.processes if p.poll() is not None]
            if dead:
                name = Path(str(dead[0].args[0])).name  # type: ignore[index]
                print(f"demo: {name} stopped: see {demo.logs}/", file=sys.stderr)
                return 1
            for tap in day.due():
                demo.present(tap.site, tap.badge)
            for _ in selector.select(timeout=min(0.5, day.seconds_to_next())):
                serve_tap(demo, server)
            if time.monotonic() - marked > 60:
                _keep_until(until_file, day)
                marked = time.monotonic()
    return 0


def _keep_until(path: Path, day: LiveDay) -> None:
    """Where the next start's import picks up: what the doors have played so far (real
    time, when `--pace` ran the simulated day ahead of it)."""
    replace_private(path, min(day.simulated_now(), datetime.now(UTC)).isoformat().encode())


@contextlib.contextmanager
def _kept_until(path: Path, day: LiveDay) -> Iterator[None]:
    try:
        yield
    finally:
        _keep_until(path, day)


if __name__ == "__main__":
    sys.exit(main())
