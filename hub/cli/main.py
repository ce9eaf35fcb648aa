"""`telecentre-hub --config hub.yaml [command]`: the hub service, and its jobs from a shell.

With no command it runs the service (ingest, presence, occupancy, access lists, API). The
commands do one job against the same database and exit: `migrate`, `import-sites FILE`,
`import-members FILE`, `import-events FILE`, `report evaluation --from D --to D`,
`retention`, `export-member ID`, `erase-member ID`, `broker-acl [--hub-user NAME]…`,
`events apply ID` / `events dismiss ID` (a quarantined tap, applied or deleted deliberately),
`keys init` (make the key that signs access lists, if there is none) and `keys public` (the
public key to put in every edge's `access.hub_public_keys`), and the console's users and API
tokens:
`user add|list|disable|enable|password|email`, `token add|list|revoke`
(`hub/cli/accounts.py`); a month's billing: `billing close|show|invoices YYYY-MM`
(`hub/cli/billing.py`); `mail test ADDRESS`, `mail list` (`hub/cli/mail.py`).
"""

from __future__ import annotations

import argparse
import gc
import getpass
import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from hub.cli import accounts, billing
from hub.cli import mail as mail_cli
from hub.config import HubConfig, readable_secrets
from hub.presence.engine import Presence
from hub.store import make_engine, make_sessionmaker, migrate
from hub.store.models import utcnow
from telecentre.config import load_or_exit
from telecentre.logs import start_logging
from telecentre.private_files import restrict_umask

if TYPE_CHECKING:
    from tqdm import tqdm

# Every command starts a new interpreter: what only some commands use is imported by them,
# so a short job (an import, a key) does not pay for the others' libraries.


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
            from tqdm import tqdm

            # disable=None: a bar on a terminal only, not in a log or a pipe.
            bar = tqdm(total=total, desc=description, unit="row", file=sys.stderr, disable=None)
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()

    return update


def serve(config: HubConfig, config_file: Path | None = None) -> int:
    from hub.people.imports import InvalidFile
    from hub.service import Hub  # the service's imports (Flask, InfluxDB) only when serving
    from telecentre.signals import wait_for_stop

    readable = readable_secrets(config, config_file)
    for sentence in readable:
        print(f"telecentre-hub: cannot start: {sentence}", file=sys.stderr)
    if readable:
        return 2
    try:
        hub = Hub(config)
        hub.start()
    except InvalidFile as bad:
        for problem in bad.problems:
            print(f"{config.sites_file}: {problem}", file=sys.stderr)
        return 2
    except (OSError, SQLAlchemyError) as exc:
        print(f"telecentre-hub: cannot start: {exc}".splitlines()[0], file=sys.stderr)
        return 2
    except ValueError as exc:  # a signing key file that holds no Ed25519 key
        print(f"telecentre-hub: cannot start: {config.signing_key_path}: {exc}", file=sys.stderr)
        return 2
    wait_for_stop()
    hub.stop()
    return 0


def run_import(config: HubConfig, kind: str, path: Path) -> int:
    from hub.doors.access_lists import record_import

    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8")
    except OSError as exc:
        print(f"{path}: cannot read: {exc.strerror}", file=sys.stderr)
        return 2
    except UnicodeDecodeError as exc:
        print(f"{path}: not UTF-8 text (byte {exc.start})", file=sys.stderr)
        return 2
    with database(config) as session:
        presence = Presence.from_config(config)
        if kind == "events":
            from tqdm import tqdm

            from hub.intake.ingest import ingest_lines

            # Split as the API does: JSON Lines end at \n (or \r\n), never at U+2028.
            lines = raw.splitlines()
            # disable=None: a bar on a terminal only, not in a log or a pipe.
            shown = tqdm(lines, desc=f"events {path.name}", unit="event", file=sys.stderr,
                         disable=None, leave=False)  # fmt: skip
            result = ingest_lines(session, shown, on_batch=[presence.apply])
            record_import(
                session,
                _actor(),
                "events",
                (),
                accepted=result.accepted,
                duplicates=result.duplicates,
                rejected=len(result.rejected),
            )
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
        from hub.people.imports import ImportResult, InvalidFile, import_members, import_sites

        run = import_sites if kind == "sites" else import_members
        try:
            outcome: ImportResult = run(session, text, _progress(f"{kind} {path.name}"))
        except InvalidFile as bad:
            for problem in bad.problems:
                print(f"{path}: {problem}", file=sys.stderr)
            print(f"{path}: nothing imported ({len(bad.problems)} bad lines)", file=sys.stderr)
            return 1
        if kind == "sites":
            # Taps an edge sent before its site existed become sessions now.
            presence.replay_sites(session, outcome.access_changed)
        record_import(
            session,
            _actor(),
            kind,
            outcome.access_changed,
            badges=outcome.badge_changes,
            created=outcome.created,
            updated=outcome.updated,
        )
    print(json.dumps({"created": outcome.created, "updated": outcome.updated}))
    if outcome.access_changed:
        print(
            "access lists changed for "
            + ", ".join(sorted(outcome.access_changed))
            + ": the running hub publishes them within a minute",
            file=sys.stderr,
        )
    return 0


def _actor() -> str:
    """Who the audit names for a shell command: the user who ran it."""
    return f"cli:{getpass.getuser()}"


def _day(text: str) -> date:
    """An argparse type: a bounded YYYY-MM-DD day, or a usage error saying why."""
    from hub.reports.queries import report_day

    try:
        return report_day(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _member_id(text: str) -> str:
    from hub.people.imports import MEMBER_ID_RE

    if not MEMBER_ID_RE.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a member id (letters, digits, '.', '_', '-'; at most 64)"
        )
    return text


def keys(config: HubConfig, action: str) -> int:
    """`keys init` makes the signing key if missing; both print its public key on stdout
    (what every edge's `access.hub_public_keys` lists) and its id on stderr."""
    from telecentre.signing import SigningKey

    path = config.signing_key_path
    try:
        if action == "init":
            existed = path.exists()
            key = SigningKey.load_or_create(path)
            print(
                f"{path}: {'kept the existing key' if existed else 'new key'} {key.key_id}",
                file=sys.stderr,
            )
        else:
            key = SigningKey.load(path)
            print(f"{path}: key {key.key_id}", file=sys.stderr)
    except FileNotFoundError:
        print(f"telecentre-hub: no signing key at {path}: run `keys init`", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"telecentre-hub: {path}: {exc}", file=sys.stderr)
        return 1
    print(key.public_text)
    return 0


def report_evaluation(config: HubConfig, first: date, last: date) -> int:
    from hub.api.reports import evaluation_json
    from hub.reports.queries import evaluation

    with database(config) as session:
        report = evaluation(session, first, last)
    print(json.dumps(evaluation_json(report, first, last), indent=2, ensure_ascii=False))
    return 0


def decide_event(config: HubConfig, action: str, event_id: str) -> int:
    """`events apply ID` or `events dismiss ID`: a person's decision on a quarantined tap."""
    from hub.presence.events import CannotApply, apply_quarantined, dismiss_quarantined

    actor = f"cli:{getpass.getuser()}"
    try:
        with database(config) as session:
            if action == "dismiss":
                dismiss_quarantined(session, event_id, actor=actor)
                print(json.dumps({"id": event_id, "dismissed": True}))
            else:
                presence = Presence.from_config(config)
                row = apply_quarantined(session, event_id, actor=actor, presence=[presence.apply])
                print(json.dumps({"id": row.id, "outcome": row.outcome}))
    except LookupError:
        print(f"telecentre-hub: no event {event_id!r}", file=sys.stderr)
        return 1
    except CannotApply as refused:
        print(f"telecentre-hub: {refused}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None, *, clock: Callable[[], datetime] = utcnow) -> int:
    """`clock`: "now" for the commands that depend on it (`billing close`); tests fix it."""
    parser = argparse.ArgumentParser(
        prog="telecentre-hub",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", help="hub YAML config (FORMATS.md); defaults otherwise")
    parser.add_argument(
        "--verbose", action="store_true", help="a command also logs each migration step"
    )
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="run the service (the default)")
    commands.add_parser("migrate", help="create or upgrade the database schema")
    for kind in ("sites", "members", "events"):
        command = commands.add_parser(f"import-{kind}", help=f"import a file of {kind}")
        command.add_argument("file", type=Path)
    report = commands.add_parser("report", help="print a report as JSON")
    report.add_argument("name", choices=["evaluation"])
    report.add_argument("--from", dest="first", type=_day, required=True)
    report.add_argument("--to", dest="last", type=_day, required=True)
    commands.add_parser("retention", help="apply the retention rules now")
    acl = commands.add_parser(
        "broker-acl",
        help="print the Mosquitto ACL of the hub listener (devices: deploy/add-device)",
    )
    acl.add_argument(
        "--hub-user",
        action="append",
        dest="hub_users",
        metavar="NAME",
        help="a hub account, which reads and writes everything (repeat it; default: hub)",
    )
    keys_command = commands.add_parser("keys", help="the key that signs access lists")
    keys_command.add_argument("action", choices=["init", "public"])
    events = commands.add_parser("events", help="the stored events")
    events_commands = events.add_subparsers(dest="events_command", required=True)
    apply = events_commands.add_parser("apply", help="apply a quarantined tap deliberately")
    apply.add_argument("event_id")
    dismiss = events_commands.add_parser("dismiss", help="delete a quarantined tap, audited")
    dismiss.add_argument("event_id")
    for verb in ("export", "erase"):
        command = commands.add_parser(f"{verb}-member", help=f"{verb} a member's personal data")
        command.add_argument("member_id", type=_member_id)
    accounts.add_parsers(commands)
    billing.add_parsers(commands)
    mail_cli.add_parsers(commands)
    args = parser.parse_args(argv)
    restrict_umask()  # the database, its WAL and anything else the hub writes: owner only

    config = load_or_exit(HubConfig, args.config, "telecentre-hub")
    # What the imports built lives until exit: out of the collector's sight, which would
    # otherwise walk it again at every full collection of a long job (a year's import: ~10 %).
    gc.freeze()
    serving = args.command in (None, "serve")
    start_logging(stream=sys.stdout if serving else sys.stderr)
    if not (serving or args.verbose):
        # Alembic's INFO lines ("Context impl SQLiteImpl.") on every command say nothing to
        # the person who typed it; the service keeps them in its log.
        logging.getLogger("alembic").setLevel(logging.WARNING)

    if serving:
        return serve(config, Path(args.config) if args.config else None)
    if args.command == "migrate":
        migrate(config.database_url)
        print(f"database {config.database_url.split('@')[-1]} is at the latest schema")
        return 0
    if args.command in ("user", "token"):
        return accounts.run(args, lambda: database(config))
    if args.command == "billing":
        return billing.run(args, config, lambda: database(config), clock=clock)
    if args.command == "mail":
        return mail_cli.run(args, config, lambda: database(config))
    if args.command.startswith("import-"):
        return run_import(config, args.command.removeprefix("import-"), args.file)
    if args.command == "report":
        if args.last < args.first:
            print(
                f"telecentre-hub: --to {args.last} is before --from {args.first}", file=sys.stderr
            )
            return 2
        return report_evaluation(config, args.first, args.last)
    if args.command == "events":
        return decide_event(config, args.events_command, args.event_id)
    if args.command == "keys":
        return keys(config, args.action)
    if args.command == "broker-acl":
        from telecentre import broker

        try:
            print(broker.acl(args.hub_users or ["hub"]))
        except ValueError as exc:
            print(f"telecentre-hub: {exc}", file=sys.stderr)
            return 2
        return 0
    from hub.presence import retention

    try:
        return run_retention_command(config, args.command, args.__dict__.get("member_id"))
    except retention.UnknownMember:
        print(f"telecentre-hub: no member {args.member_id!r}", file=sys.stderr)
        return 1


def run_retention_command(config: HubConfig, command: str, member_id: str | None) -> int:
    from hub.presence import retention
    from hub.store.models import utcnow

    with database(config) as session:
        if command == "retention":
            retention.apply_retention(
                session,
                utcnow(),
                events_retention_days=config.retention.events_retention_days,
                sessions_retention_years=config.retention.sessions_retention_years,
                quarantine_days=config.retention.quarantine_days,
                debounce_s=config.rules.debounce_s,
                actor=_actor(),
            )
        elif command == "export-member" and member_id is not None:
            print(
                json.dumps(
                    retention.export_member(session, member_id, actor=_actor()),
                    indent=2,
                    ensure_ascii=False,
                    default=str,
                )
            )
        elif member_id is not None:
            retention.erase_member(
                session,
                member_id,
                actor=_actor(),
                accounting_years=config.retention.accounting_years,
            )
            print(f"member {member_id}: personal data erased, sessions pseudonymised")
    return 0


if __name__ == "__main__":
    sys.exit(main())
