"""`telecentre-edge --config edge.yaml [reset-access-list]`: the agent on a site's Raspberry Pi.

`reset-access-list` is the door's part of the reset procedure (docs/operations.md): with the
agent stopped, it keeps the list in force but forgets its version, so that the next list
signed by a trusted hub key is applied whatever its version.
"""

from __future__ import annotations

import argparse
import sys

from edge.access import AccessRules
from edge.agent import Agent
from edge.config import EdgeConfig
from edge.hardware import build_hardware
from telecentre.config import load_or_exit
from telecentre.logs import start_logging
from telecentre.signals import wait_for_stop


def reset_access_list(config: EdgeConfig) -> int:
    rules = AccessRules(config.state_dir / "access.json", config.access.trusted)
    try:
        forgotten = rules.forget_version()
    except (OSError, ValueError, KeyError) as exc:
        print(f"telecentre-edge: cannot rewrite {rules.path}: {exc}", file=sys.stderr)
        return 1
    if not forgotten:
        print(f"no access list at {rules.path}: the next signed list will be applied anyway")
        return 0
    print(
        f"access list version {rules.version} stays in force until the next list signed by a "
        "trusted hub key, which is applied whatever its version; start the agent again"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="telecentre-edge", description="Access control agent for one télécentre door."
    )
    parser.add_argument("--config", required=True, help="edge YAML config (FORMATS.md)")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("run", help="run the agent (the default)")
    commands.add_parser(
        "reset-access-list",
        help="forget the version of the list in force (run it with the agent stopped)",
    )
    args = parser.parse_args(argv)
    config = load_or_exit(EdgeConfig, args.config, "telecentre-edge")
    start_logging(config.log_level)
    if args.command == "reset-access-list":
        return reset_access_list(config)
    agent = Agent(config, build_hardware(config))
    agent.start()
    wait_for_stop()
    agent.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
