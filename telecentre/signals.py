"""How both programs run until told to stop: SIGTERM from systemd, SIGINT from Ctrl-C."""

from __future__ import annotations

import signal
import threading
from types import FrameType


def wait_for_stop() -> None:
    """Block the main thread until SIGTERM or SIGINT; the program's threads go on meanwhile."""
    stopping = threading.Event()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    stopping.wait()
