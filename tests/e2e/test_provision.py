"""`firmware-config/provision` run into a temporary prefix, twice: SPI on once, the edge's
wheel with its extras only, the config from add-device readable by the service's group only,
the unit installed, a bad config refused with the line that names it, and nothing changed by
the second run. (apt, adduser, systemctl and NTP are a real Pi's: BRINGUP.md.)"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.servers import REPO

pytestmark = pytest.mark.timeout(600)


def test_provision_twice_into_a_prefix(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    build = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir", str(dist)]
    subprocess.run([*build, str(REPO)], check=True, capture_output=True, timeout=300)
    wheel = next(dist.glob("telecentre-*.whl"))
    prefix = tmp_path / "pi"
    venv = prefix / "opt" / "telecentre" / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site_packages = next((venv / "lib").glob("python3*/site-packages"))
    (site_packages / "test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    device = tmp_path / "murat-door"
    device.mkdir()
    etc = prefix / "etc" / "telecentre"
    (device / "edge.yaml").write_text(
        "site: murat\ndevice: murat-door\n"
        f"mqtt: {{host: hub.example.org, port: 8883, username: murat-door,"
        f" password_file: {etc}/mqtt.password, tls: {{ca: {etc}/ca.crt}}}}\n"
        f"access: {{hub_public_keys_file: {etc}/hub-public-keys}}\n"
    )
    (device / "mqtt.password").write_text("s3cret")
    (device / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    (device / "hub-public-keys").write_text("dpnT5YPQqgmp0Zsf0ajiguc3dcw/bgC8tx0We1gO54I=\n")
    command = [str(REPO / "firmware-config" / "provision"), "--prefix", str(prefix),
               "--no-pi", "--wheel", str(wheel), str(device)]  # fmt: skip
    environ = {**os.environ, "PROVISION_PIP_ARGS": "--no-deps --no-index"}
    first = subprocess.run(command, capture_output=True, text=True, env=environ, timeout=300)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "BRINGUP.md" in first.stdout
    config_txt = (prefix / "boot" / "firmware" / "config.txt").read_text()
    assert config_txt.count("dtparam=spi=on") == 1
    for name in ("edge.yaml", "mqtt.password", "hub-public-keys"):
        assert (etc / name).stat().st_mode & 0o777 == 0o640, name
    unit = (prefix / "etc" / "systemd" / "system" / "telecentre-edge.service").read_text()
    assert f"ExecStart={venv}/bin/telecentre-edge --config {etc}/edge.yaml" in unit
    assert list(site_packages.glob("telecentre-*.dist-info"))
    assert not list(site_packages.glob("flask*")) and not list(site_packages.glob("sqlalchemy*"))

    again = subprocess.run(command, capture_output=True, text=True, env=environ, timeout=300)
    assert again.returncode == 0 and "provision: nothing to change" in again.stdout, again.stderr
    assert (prefix / "boot" / "firmware" / "config.txt").read_text() == config_txt

    in_force = (etc / "edge.yaml").read_text()
    (device / "edge.yaml").write_text("site: murat\ndevice: murat-door\nstatus_interval_s: 600\n")
    bad = subprocess.run(command, capture_output=True, text=True, env=environ, timeout=300)
    assert bad.returncode == 2
    assert "status_interval_s" in bad.stderr
    assert (etc / "edge.yaml").read_text() == in_force  # the bad one never replaced it
