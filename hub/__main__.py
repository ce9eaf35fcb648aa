"""`telecentre-hub --config hub.yaml [command]`: the hub service, and its jobs from a shell.

With no command it runs the service (ingest, presence, occupancy, access lists, API). The
commands do one job against the same database and exit: `migrate`, `import-sites FILE`,
`import-members FILE`, `import-events FILE`, `report evaluation --from D --to D`,
`retention`, `export-member ID`, `erase-member ID`, `broker-acl SITE:DEVICE…`.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from types import FrameType
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy.orm import Session
from tqdm import tqdm

from hub.access_lists import publish_access_lists
from hub.config import HubConfig
from hub.imports import ImportResult, InvalidFile, import_members, import_sites
from hub.ingest import ingest_lines
from hub.presence import Presence
from hub.store import make_engine, make_sessionmaker, migrate
from hub.store.models import utcnow
from telecentre import broker
from telecentre.config import load_or_exit
from telecentre.logs import start_logging
from telecentre.mqtt import authenticate


@contextmanager
def database(config: HubConfig) -> Iterator[Session]:
    """One transaction on the migrated database: committed if the job succeeds."""
    migrate(config.database_url)
    engine = make_engine(config.database_url)
    try:
        with make_sessionmaker(engine).begin() as session:
            yield session
    finally:
        engine.dispose()


def _progress(description: str) -> Callable[[int, int], None]:
    bar: tqdm[Any] | None = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc=description, unit="row", file=sys.stderr)
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()

    return update


def serve(config: HubConfig) -> int:
    from hub.service import Hub  # the service's imports (Flask, InfluxDB) only when serving

    hub = Hub(config)
    stopping = threading.Event()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    hub.start()
    stopping.wait()
    hub.stop()
    return 0


def run_import(config: HubConfig, kind: str, path: Path) -> int:
    text = path.read_text(encoding="utf-8")
    with database(config) as session:
        if kind == "events":
            presence = Presence.from_config(config)
            lines = text.splitlines()
            result = ingest_lines(session, lines, on_batch=[presence.apply])
            for rejected in result.rejected:
                print(f"{path}: line {rejected.line}: {rejected.error}", file=sys.stderr)
            print(
                json.dumps(
                    {
                        "accepted": result.accepted,
                        "duplicates": result.duplicates,
                        "rejected": len(result.rejected),
                    }
                )
            )
            return 0
        run = import_sites if kind == "sites" else import_members
        try:
            outcome: ImportResult = run(session, text, _progress(f"{kind} {path.name}"))
        except InvalidFile as bad:
            for problem in bad.problems:
                print(f"{path}: {problem}", file=sys.stderr)
            print(f"{path}: nothing imported ({len(bad.problems)} bad lines)", file=sys.stderr)
            return 1
    print(json.dumps({"created": outcome.created, "updated": outcome.updated}))
    if outcome.access_changed:
        publish_access_lists_now(config, outcome.access_changed)
    return 0


def publish_access_lists_now(config: HubConfig, sites: Collection[str]) -> None:
    """From a shell import: connect as the hub long enough to publish the new lists."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{config.mqtt.client_id}-cli")
    authenticate(
        client,
        config.mqtt.username,
        config.mqtt.password,
        config.mqtt.password_file,
        config.mqtt.tls,
    )
    try:
        client.connect(config.mqtt.host, config.mqtt.port)
    except OSError as exc:
        print(
            f"broker {config.mqtt.host}:{config.mqtt.port} unreachable ({exc}): the access "
            "lists go out at the hub's next start or daily refresh",
            file=sys.stderr,
        )
        return
    client.loop_start()
    with database(config) as session:
        lists = publish_access_lists(session, client, sites)
    for access in lists:
        print(f"access list {access.site} version {access.version} published", file=sys.stderr)
    client.disconnect()  # paho sends what is queued before the DISCONNECT
    client.loop_stop()


def report_evaluation(config: HubConfig, first: date, last: date) -> int:
    from hub.api.reports import evaluation_json
    from hub.reports import evaluation

    with database(config) as session:
        report = evaluation(session, first, last)
    print(json.dumps(evaluation_json(report, first, last), indent=2, ensure_ascii=False))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="telecentre-hub",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", help="hub YAML config (FORMATS.md); defaults otherwise")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="run the service (the default)")
    commands.add_parser("migrate", help="create or upgrade the database schema")
    for kind in ("sites", "members", "events"):
        command = commands.add_parser(f"import-{kind}", help=f"import a {kind} file")
        command.add_argument("file", type=Path)
    report = commands.add_parser("report", help="print a report as JSON")
    report.add_argument("name", choices=["evaluation"])
    report.add_argument("--from", dest="first", type=date.fromisoformat, required=True)
    report.add_argument("--to", dest="last", type=date.fromisoformat, required=True)
    commands.add_parser("retention", help="apply the retention rules now")
    acl = commands.add_parser("broker-acl", help="print the Mosquitto ACL for these devices")
    acl.add_argument("devices", nargs="+", metavar="SITE:DEVICE")
    for verb in ("export", "erase"):
        command = commands.add_parser(f"{verb}-member", help=f"{verb} a member's personal data")
        command.add_argument("member_id")
    args = parser.parse_args(argv)

    config = load_or_exit(HubConfig, args.config, "telecentre-hub")
    start_logging()

    if args.command in (None, "serve"):
        return serve(config)
    if args.command == "migrate":
        migrate(config.database_url)
        print(f"database {config.database_url.split('@')[-1]} is at the latest schema")
        return 0
    if args.command.startswith("import-"):
        return run_import(config, args.command.removeprefix("import-"), args.file)
    if args.command == "report":
        return report_evaluation(config, args.first, args.last)
    if args.command == "broker-acl":
        pairs = [item.split(":", 1) for item in args.devices]
        if any(len(pair) != 2 for pair in pairs):
            print(
                "telecentre-hub: devices are written SITE:DEVICE, e.g. murat:murat-door",
                file=sys.stderr,
            )
            return 2
        print(broker.acl((site, device) for site, device in pairs))
        return 0
    from hub import retention

    with database(config) as session:
        if args.command == "retention":
            retention.apply_retention(
                session,
                utcnow(),
                events_retention_days=config.retention.events_retention_days,
                sessions_retention_years=config.retention.sessions_retention_years,
            )
        elif args.command == "export-member":
            print(
                json.dumps(
                    retention.export_member(session, args.member_id),
                    indent=2,
                    ensure_ascii=False,
                    default=str,
                )
            )
        else:
            retention.erase_member(session, args.member_id)
            print(f"member {args.member_id}: personal data erased, sessions pseudonymised")
    return 0


if __name__ == "__main__":
    sys.exit(main())
