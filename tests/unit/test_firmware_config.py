"""The example edge configs and systemd unit in firmware-config/ load and match WIRING.md."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest
import yaml

from edge.config import EdgeConfig
from telecentre.config import load_config

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware-config"
EXAMPLES = sorted(FIRMWARE.glob("edge.*.yaml"))

#: The BCM pins of WIRING.md.
STRIKE, SENSOR, EXIT, GREEN, RED, BUZZER = 27, 17, 22, 5, 6, 13


def test_every_reader_type_has_an_example() -> None:
    assert [p.name for p in EXAMPLES] == ["edge.hid.yaml", "edge.mfrc522.yaml", "edge.stdin.yaml"]


#: The hub's keys file the examples name exists only on a Pi: leave it out here.
NO_KEYS_FILE = {"TELECENTRE_ACCESS__HUB_PUBLIC_KEYS_FILE": "null"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_loads(path: Path) -> None:
    config = load_config(EdgeConfig, path, environ=NO_KEYS_FILE)
    reader_type = path.name.split(".")[1]
    assert [r.type for r in config.readers] == [reader_type]
    assert (config.site, config.device) == ("murat", "murat-door")
    assert [r.door for r in config.readers] == [d.id for d in config.doors]


@pytest.mark.parametrize("name", ["edge.mfrc522.yaml", "edge.hid.yaml"])
def test_hardware_example_matches_wiring(name: str) -> None:
    config = load_config(EdgeConfig, FIRMWARE / name, environ=NO_KEYS_FILE)
    (door,) = config.doors
    assert (door.strike_pin, door.sensor_pin, door.exit_pin) == (STRIKE, SENSOR, EXIT)
    assert door.sensor_closed_when_active
    feedback = config.feedback
    assert (feedback.green_led_pin, feedback.red_led_pin, feedback.buzzer_pin) == (
        GREEN,
        RED,
        BUZZER,
    )
    assert config.pins == "auto"
    assert config.mqtt.host == "hub.example"
    assert config.mqtt.port == 8883
    assert config.mqtt.username == config.device
    assert config.mqtt.password_file == Path("/etc/telecentre/mqtt.password")
    assert config.mqtt.tls is not None
    assert config.mqtt.tls.ca == Path("/etc/telecentre/ca.crt")
    if config.readers[0].type == "mfrc522":
        assert config.readers[0].reset_pin == 25
    raw = yaml.safe_load((FIRMWARE / name).read_text(encoding="utf-8"))
    assert raw["access"] == {"hub_public_keys_file": "/etc/telecentre/hub-public-keys"}


def test_stdin_example_runs_without_a_pi() -> None:
    config = load_config(EdgeConfig, FIRMWARE / "edge.stdin.yaml", environ={})
    assert config.pins == "mock"
    assert (config.mqtt.host, config.mqtt.port, config.mqtt.tls) == ("127.0.0.1", 1883, None)
    assert not config.state_dir.is_absolute() or config.state_dir.is_relative_to("/tmp")


def test_systemd_unit_restarts_and_runs_unprivileged() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read(FIRMWARE / "telecentre-edge.service", encoding="utf-8")
    service = unit["Service"]
    assert service["Restart"] == "always"
    assert service.get("User") not in (None, "", "root", "0")
    assert service["ExecStart"].endswith("--config /etc/telecentre/edge.yaml")
    assert "network-online.target" not in unit["Unit"].get("Requires", "")
    assert "time-sync.target" not in unit["Unit"].get("Requires", "")


def test_systemd_unit_keeps_the_outbox_to_its_user() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read(FIRMWARE / "telecentre-edge.service", encoding="utf-8")
    assert unit["Service"]["UMask"] == "0077"
    assert unit["Service"]["StateDirectoryMode"] == "0700"
