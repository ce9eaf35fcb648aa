"""`telecentre-edge --config edge.yaml [reset-access-list [--version N]]`: the agent on a
site's Raspberry Pi.

`reset-access-list` is the door's part of the reset procedure (docs/operations.md): with the
agent stopped, it sets the door's anti-rollback floor, the version the next list must reach
(at least N, or issued after the reset), while the list in force keeps deciding until then.
It is also how an operator confirms a fresh Pi whose clock is not synchronised yet.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from edge.access import AccessRules
from edge.agent import Agent
from edge.clock import ntp_synchronised
from edge.config import EdgeConfig
from edge.hardware import build_hardware
from telecentre import wire
from telecentre.config import load_or_exit
from telecentre.logs import start_logging
from telecentre.private_files import restrict_umask
from telecentre.signals import wait_for_stop


def reset_access_list(config: EdgeConfig, version: int | None) -> int:
    if version is None:
        if not (config.clock.assume_synced or ntp_synchronised()):
            print(
                "telecentre-edge: this Pi's clock is not synchronised (NTP): give the version "
                "the next list must reach (--version N; the hub shows it as "
                "latest_access_version in GET /api/v1/devices)",
                file=sys.stderr,
            )
            return 1
        version = int(datetime.now(UTC).timestamp() * 1000)
    if not 0 <= version <= wire.MAX_ACCESS_VERSION:
        print(f"telecentre-edge: --version {version} is not a list version", file=sys.stderr)
        return 2
    rules = AccessRules(config.state_dir / "access.json", config.access.trusted)
    try:
        rules.reset_floor(version)
    except OSError as exc:
        print(f"telecentre-edge: cannot write {rules.floor_path}: {exc}", file=sys.stderr)
        return 1
    in_force = "no list" if rules.version is None else f"access list version {rules.version}"
    print(
        f"the next access list must be version {version} or later; {in_force} stays in force "
        "until then. Start the agent again"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="telecentre-edge", description="Access control agent for one télécentre door."
    )
    parser.add_argument("--config", required=True, help="edge YAML config (FORMATS.md)")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("run", help="run the agent (the default)")
    reset = commands.add_parser(
        "reset-access-list",
        help="set the version the next list must reach (run it with the agent stopped)",
    )
    reset.add_argument(
        "--version",
        type=int,
        help="the lowest version the next list may have (default: issued after now)",
    )
    args = parser.parse_args(argv)
    restrict_umask()  # its outbox, list and floor hold badge UIDs: the owner's only
    config = load_or_exit(EdgeConfig, args.config, "telecentre-edge")
    start_logging(config.log_level)
    if args.command == "reset-access-list":
        return reset_access_list(config, args.version)
    agent = Agent(config, build_hardware(config))
    agent.start()
    wait_for_stop()
    agent.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
