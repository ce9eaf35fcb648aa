"""How both programs log: one line per event or decision, on stdout (journald keeps it)."""

from __future__ import annotations

import logging
import sys


def start_logging(level: str | int = logging.INFO) -> None:
    logging.basicConfig(
        level=level, stream=sys.stdout, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("paho").setLevel(logging.WARNING)  # its reconnect chatter says nothing new
