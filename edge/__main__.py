"""`telecentre-edge --config edge.yaml`: the agent on a site's Raspberry Pi."""

from __future__ import annotations

import argparse
import sys

from edge.agent import Agent
from edge.config import EdgeConfig
from edge.hardware import build_hardware
from telecentre.config import load_or_exit
from telecentre.logs import start_logging
from telecentre.signals import wait_for_stop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="telecentre-edge", description="Access control agent for one télécentre door."
    )
    parser.add_argument("--config", required=True, help="edge YAML config (FORMATS.md)")
    args = parser.parse_args(argv)
    config = load_or_exit(EdgeConfig, args.config, "telecentre-edge")
    start_logging(config.log_level)
    agent = Agent(config, build_hardware(config))
    agent.start()
    wait_for_stop()
    agent.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
