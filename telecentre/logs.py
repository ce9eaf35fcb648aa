"""How both programs log: one line per event or decision, on stdout (journald keeps it)."""

from __future__ import annotations

import logging
import sys
from typing import TextIO


def start_logging(level: str | int = logging.INFO, stream: TextIO | None = None) -> None:
    """`stream`: stdout for the services; a one-shot command logs to stderr, so that its
    output (JSON, CSV) stays clean for a pipe or a file."""
    logging.basicConfig(
        level=level,
        stream=stream or sys.stdout,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("paho").setLevel(logging.WARNING)  # its reconnect chatter says nothing new
