"""`telecentre-edge --config edge.yaml`: the agent on a site's Raspberry Pi."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType

from edge.agent import Agent
from edge.config import EdgeConfig
from edge.hardware import build_hardware
from telecentre.config import ConfigError, load_config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="telecentre-edge", description="Access control agent for one télécentre door."
    )
    parser.add_argument("--config", required=True, help="edge YAML config (FORMATS.md)")
    args = parser.parse_args(argv)
    try:
        config = load_config(EdgeConfig, args.config)
    except ConfigError as exc:
        print(f"telecentre-edge: bad config: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=config.log_level,
        stream=sys.stdout,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("paho").setLevel(logging.WARNING)
    agent = Agent(config, build_hardware(config))
    stopping = threading.Event()

    def stop(signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    agent.start()
    stopping.wait()
    agent.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
