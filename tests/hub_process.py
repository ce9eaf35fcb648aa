"""The hub as its own process (`telecentre-hub`, the service), for the tests that kill it or
the broker under it; the `hubs` fixture (tests/conftest.py) kills what a test left running."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.servers import REPO, Mosquitto, free_port
from tests.waiting import wait_until

HUB = str(Path(sys.executable).parent / "telecentre-hub")


class HubProcess:
    """`telecentre-hub` (the service) with a config of its own, its log in a file; `extra`
    adds config keys (the retention, a sites file)."""

    def __init__(
        self,
        workdir: Path,
        broker: Mosquitto,
        db_url: str,
        client_id: str,
        extra: dict[str, Any] | None = None,
    ) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.config = workdir / "hub.yaml"
        self.config.write_text(
            yaml.safe_dump(
                {
                    "state_dir": str(workdir),
                    "mqtt": {"port": broker.port, "client_id": client_id},
                    "database": {"url": db_url},
                    "http": {"port": free_port()},
                    "ingest": {"batch_size": 100, "batch_ms": 50},
                    **(extra or {}),
                }
            )
        )
        self.log = workdir / "hub.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log.write_text("")
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [HUB, "--config", str(self.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO,
            )
        wait_until(
            lambda: "subscribed" in self.output(),
            timeout=60,
            interval=0.05,
            message=f"the hub never subscribed (see {self.log})",
        )

    def output(self) -> str:
        if self.process is not None and self.process.poll() not in (None, 0, -9):
            raise AssertionError(
                f"the hub exited ({self.process.returncode}): {self.log.read_text()}"
            )
        return self.log.read_text()

    def signal(self, number: int) -> None:
        assert self.process is not None
        self.process.send_signal(number)
        self.process.wait(timeout=60)

    def stopped_counters(self) -> dict[str, int]:
        match = re.search(r"hub stopped: (.*)", self.output())
        assert match, self.output()
        return {k: int(v) for k, v in (pair.split("=") for pair in match.group(1).split())}

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
