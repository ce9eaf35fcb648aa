"""The shipped hub config example and service unit load as the hub reads them."""

from __future__ import annotations

import configparser

from hub.config import HubConfig
from telecentre.config import load_config
from tests.servers import REPO

HUB = REPO / "deploy" / "hub"


def test_the_example_hub_config_loads_with_no_unknown_key() -> None:
    # The tokens file it names exists only on a hub host: leave it out here.
    config = load_config(
        HubConfig, HUB / "hub.example.yaml", environ={"TELECENTRE_API_TOKENS_FILE": "null"}
    )
    assert config.mqtt.port == 1884 and config.mqtt.username == "hub"
    assert config.signing_key_path.name == "access-list.key"
    assert config.database_url.startswith("postgresql+psycopg://")
    assert config.rules.debounce_s == 60
    assert config.links_root == "https://hub.cybercantal.fr"


def test_the_hub_unit_restarts_and_runs_unprivileged() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read(HUB / "telecentre-hub.service")
    assert unit["Service"]["Restart"] == "always"
    assert unit["Service"]["User"] not in ("", "root")
    assert "--config /etc/telecentre/hub.yaml" in unit["Service"]["ExecStart"]


def test_the_hub_unit_keeps_its_files_to_its_user() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read(HUB / "telecentre-hub.service")
    assert unit["Service"]["UMask"] == "0077"
    assert unit["Service"]["StateDirectoryMode"] == "0700"
