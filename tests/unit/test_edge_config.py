"""The edge agent's config (FORMATS.md): strict keys, env overrides, one clear error line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge.config import MAX_INFLIGHT, MIN_OUTBOX_EVENTS, QUEUED_PER_INFLIGHT, EdgeConfig
from telecentre.config import ConfigError, load_config

EDGE_COMMAND = Path(sys.executable).parent / "telecentre-edge"
MINIMAL = "site: murat\ndevice: murat-door\n"


def write(tmp_path: Path, text: str, name: str = "edge.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load(path: Path, environ: dict[str, str] | None = None) -> EdgeConfig:
    return load_config(EdgeConfig, path, environ=environ or {})


def error(path: Path, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load(path, environ)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_minimal_config_takes_every_default(tmp_path: Path) -> None:
    config = load(write(tmp_path, MINIMAL))
    assert (config.site, config.device) == ("murat", "murat-door")
    assert (config.mqtt.host, config.mqtt.port, config.mqtt.tls) == ("127.0.0.1", 1883, None)
    assert config.state_dir == Path("/var/lib/telecentre-edge")
    assert [(r.id, r.type, r.direction) for r in config.readers] == [("stdin", "stdin", "toggle")]
    assert config.doors == []
    assert config.outbox.max_events == 1_000_000
    assert (config.pins, config.log_level, config.status_interval_s) == ("auto", "INFO", 60)


def test_formats_example_loads(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        MINIMAL + "mqtt: {host: hub.example, port: 8883, username: murat-door,"
        " password_file: /etc/telecentre/pw, tls: {ca: /etc/telecentre/ca.pem}}\n"
        "state_dir: /var/lib/telecentre-edge\n"
        "readers: [{id: entrance, type: mfrc522, direction: toggle}]\n"
        "doors: [{id: main, sensor_pin: 17, strike_pin: 27, exit_pin: 22, unlock_s: 5,"
        " held_open_s: 60}]\n"
        "feedback: {green_led_pin: 5, red_led_pin: 6, buzzer_pin: 13}\n",
    )
    config = load(path)
    assert (config.mqtt.host, config.mqtt.port, config.mqtt.username) == (
        "hub.example",
        8883,
        "murat-door",
    )
    assert config.mqtt.password_file == Path("/etc/telecentre/pw")
    assert config.mqtt.tls is not None
    assert config.mqtt.tls.ca == Path("/etc/telecentre/ca.pem")
    assert [(r.id, r.type) for r in config.readers] == [("entrance", "mfrc522")]
    (door,) = config.doors
    assert (door.id, door.sensor_pin, door.strike_pin, door.exit_pin) == ("main", 17, 27, 22)
    assert (door.unlock_s, door.held_open_s) == (5, 60)
    assert (
        config.feedback.green_led_pin,
        config.feedback.red_led_pin,
        config.feedback.buzzer_pin,
    ) == (5, 6, 13)


def test_unknown_key_names_the_dotted_key(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "mqtt: {host: hub, prot: 8883}\n")
    assert error(path) == f"{path}: unknown key 'mqtt.prot'"


def test_unknown_key_in_a_list_item_names_its_position(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "doors: [{id: main, strike_pin: 27, unlock: 5}]\n")
    assert error(path) == f"{path}: unknown key 'doors.0.unlock'"


def test_unknown_top_level_key(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "sate_dir: /tmp/x\n")
    assert error(path) == f"{path}: unknown key 'sate_dir'"


@pytest.mark.parametrize(
    ("yaml_text", "key", "value"),
    [
        ("mqtt: {port: eighty}", "mqtt.port", "'eighty'"),
        ("mqtt: {port: 70000}", "mqtt.port", "70000"),
        ("readers: [{id: a, type: nfc}]", "readers.0.type", "'nfc'"),
        ("doors: [{id: main, strike_pin: 27, unlock_s: 0}]", "doors.0.unlock_s", "0"),
        ("pins: fake", "pins", "'fake'"),
        ("outbox: {max_events: 0}", "outbox.max_events", "0"),
        ("outbox: {max_events: 99}", "outbox.max_events", "99"),
        ("mqtt: {inflight: 15000}", "mqtt.inflight", "15000"),
        ("mqtt: {inflight: 65535}", "mqtt.inflight", "65535"),
        ("status_interval_s: 61", "status_interval_s", "61"),
    ],
)
def test_bad_value_names_key_and_value(
    tmp_path: Path, yaml_text: str, key: str, value: str
) -> None:
    path = write(tmp_path, MINIMAL + yaml_text + "\n")
    message = error(path)
    assert message.startswith(f"{path}: key '{key}' = {value}: ")
    assert len(message) > len(f"{path}: key '{key}' = {value}: ")  # says what was expected


def test_inflight_cap_keeps_the_uplink_clear_of_mqtt_message_id_wraparound(
    tmp_path: Path,
) -> None:
    """The uplink hands paho `inflight × QUEUED_PER_INFLIGHT` events: their 16-bit message
    ids must not come round again while some still await their acknowledgement."""
    assert MAX_INFLIGHT * QUEUED_PER_INFLIGHT < 60_000 <= (MAX_INFLIGHT + 1) * QUEUED_PER_INFLIGHT
    config = load(write(tmp_path, MINIMAL + f"mqtt: {{inflight: {MAX_INFLIGHT}}}\n"))
    assert config.mqtt.inflight == MAX_INFLIGHT
    message = error(write(tmp_path, MINIMAL + f"mqtt: {{inflight: {MAX_INFLIGHT + 1}}}\n"))
    assert f"key 'mqtt.inflight' = {MAX_INFLIGHT + 1}: " in message
    assert str(MAX_INFLIGHT) in message


def test_smallest_outbox_and_longest_status_interval_are_accepted(tmp_path: Path) -> None:
    config = load(write(tmp_path, MINIMAL + "outbox: {max_events: 100}\nstatus_interval_s: 60\n"))
    assert (config.outbox.max_events, config.status_interval_s) == (MIN_OUTBOX_EVENTS, 60)


def test_bad_site_id_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "site: Murat\ndevice: murat-door\n")
    assert error(path).startswith(f"{path}: key 'site' = 'Murat': String should match pattern")


@pytest.mark.parametrize(("text", "missing"), [("device: d\n", "site"), ("site: s\n", "device")])
def test_site_and_device_are_required(tmp_path: Path, text: str, missing: str) -> None:
    path = write(tmp_path, text)
    assert error(path) == f"{path}: key '{missing}' is required"


def test_empty_file_reports_the_first_missing_key_and_how_many_more(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    assert error(path) == f"{path}: key 'site' is required (and 1 more)"


def test_environment_overrides_keys(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "mqtt: {host: hub.example}\n")
    config = load(
        path,
        {
            "TELECENTRE_MQTT__PORT": "8883",
            "TELECENTRE_SITE": "aurillac",
            "TELECENTRE_OUTBOX__MAX_EVENTS": "500",
            "HOME": "/root",  # not ours: ignored
        },
    )
    assert config.mqtt.port == 8883
    assert config.mqtt.host == "hub.example"  # siblings of an overridden key stay
    assert config.site == "aurillac"
    assert config.device == "murat-door"
    assert config.outbox.max_events == 500


def test_environment_supplies_required_keys_and_yaml_scalars() -> None:
    config = load_config(
        EdgeConfig,
        None,
        environ={
            "TELECENTRE_SITE": "murat",
            "TELECENTRE_DEVICE": "murat-door",
            "TELECENTRE_MQTT__USERNAME": "null",
            "TELECENTRE_MQTT__HOST": "'hub",  # not valid YAML: taken as the raw string
        },
    )
    assert (config.site, config.device) == ("murat", "murat-door")
    assert config.mqtt.username is None
    assert config.mqtt.host == "'hub"


def test_environment_typo_is_an_unknown_key_too(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL)
    assert error(path, {"TELECENTRE_MQTT__PROT": "8883"}) == (
        "environment variable TELECENTRE_MQTT__PROT: unknown key 'mqtt.prot'"
    )


def test_bad_environment_value_names_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL)
    message = error(path, {"TELECENTRE_MQTT__PORT": "0"})
    assert message.startswith("environment variable TELECENTRE_MQTT__PORT: key 'mqtt.port' = 0: ")


def test_duplicate_reader_ids_are_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "readers: [{id: a, type: stdin}, {id: a, type: stdin}]\n")
    message = error(path)
    assert message == f"{path}: readers ids must be unique, repeated: ['a']"


def test_duplicate_door_ids_are_rejected(tmp_path: Path) -> None:
    path = write(
        tmp_path, MINIMAL + "doors: [{id: main, strike_pin: 27}, {id: main, strike_pin: 28}]\n"
    )
    assert error(path) == f"{path}: doors ids must be unique, repeated: ['main']"


def test_reader_naming_a_missing_door_is_rejected(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        MINIMAL
        + "readers: [{id: a, type: stdin, door: back}]\ndoors: [{id: main, strike_pin: 27}]\n",
    )
    assert error(path) == f"{path}: reader 'a' names door 'back', not in doors"


def test_reader_naming_an_existing_door_is_accepted(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        MINIMAL + "readers: [{id: a, type: stdin, door: back}]\n"
        "doors: [{id: main, strike_pin: 27}, {id: back, strike_pin: 28}]\n",
    )
    assert load(path).readers[0].door == "back"


def test_hid_reader_needs_a_device(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "readers: [{id: wedge, type: hid}]\n")
    assert error(path) == f"{path}: reader 'wedge' of type hid needs 'device'"
    ok = write(tmp_path, MINIMAL + "readers: [{id: wedge, type: hid, device: /dev/input/x}]\n")
    assert load(ok).readers[0].device == Path("/dev/input/x")


def test_cross_key_errors_do_not_dump_the_whole_config(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        MINIMAL + "mqtt: {username: murat-door, password_file: /etc/secret}\n"
        "readers: [{id: a, type: stdin}, {id: a, type: stdin}]\n",
    )
    message = error(path)
    assert "/etc/secret" not in message
    assert "murat-door" not in message


@pytest.mark.parametrize("text", ["- site\n- device\n", "just a string\n", "42\n"])
def test_config_that_is_not_a_mapping_is_rejected(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    assert error(path) == f"{path}: expected a mapping of keys at the top level"


def test_invalid_yaml_is_rejected_on_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, "site: [murat\ndevice: d\n")
    assert error(path).startswith(f"{path}: not valid YAML at line ")


def test_missing_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"
    assert error(path) == f"{path}: cannot read: No such file or directory"


# --- the command --------------------------------------------------------------------------


def run_edge(*args: str) -> subprocess.CompletedProcess[str]:
    environ = {key: value for key, value in os.environ.items() if not key.startswith("TELECENTRE_")}
    return subprocess.run(
        [str(EDGE_COMMAND), *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
        check=False,
    )


def test_command_with_bad_config_exits_2_with_one_line_naming_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "mqtt: {host: hub, prot: 8883}\n", name="bad.yaml")
    result = run_edge("--config", str(path))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"telecentre-edge: bad config: {path}: unknown key 'mqtt.prot'"
    ]


def test_command_with_bad_value_exits_2_naming_key_and_value(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "mqtt: {port: eighty}\n", name="bad.yaml")
    result = run_edge("--config", str(path))
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"telecentre-edge: bad config: {path}: key 'mqtt.port' = 'eighty': ")


def test_command_with_missing_config_file_exits_2(tmp_path: Path) -> None:
    result = run_edge("--config", str(tmp_path / "absent.yaml"))
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert "cannot read" in result.stderr
