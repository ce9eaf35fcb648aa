from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import Mosquitto


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A fresh Mosquitto on a free loopback port, stopped at the end of the test."""
    server = Mosquitto(tmp_path / "broker-state")
    server.start()
    yield server
    server.stop()
