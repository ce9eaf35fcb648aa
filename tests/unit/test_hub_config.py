"""The hub's config: secrets from files and the environment, and errors that never print them."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.config import HubConfig
from telecentre.config import ConfigError, load_config


def test_api_tokens_can_live_in_a_file_of_their_own(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text("Department-Token-0001: department\nAnimator-Murat-0001: animator:murat\n")
    config = tmp_path / "hub.yaml"
    config.write_text(f"api_tokens_file: {tokens}\n")
    loaded = load_config(HubConfig, config, environ={})
    assert loaded.api_tokens == {
        "Department-Token-0001": "department",
        "Animator-Murat-0001": "animator:murat",
    }


def test_a_bad_role_in_the_tokens_file_is_named_without_the_token(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text("Very-Secret-Token-0001: janitor\n")
    config = tmp_path / "hub.yaml"
    config.write_text(f"api_tokens_file: {tokens}\n")
    with pytest.raises(ConfigError) as error:
        load_config(HubConfig, config, environ={})
    assert "is not a role" in str(error.value)
    assert "Very-Secret-Token-0001" not in str(error.value)


def test_a_short_token_in_the_config_is_refused_without_printing_it(tmp_path: Path) -> None:
    config = tmp_path / "hub.yaml"
    config.write_text("api_tokens: {sh0rt: department}\n")
    with pytest.raises(ConfigError) as error:
        load_config(HubConfig, config, environ={})
    assert "sh0rt" not in str(error.value)
    assert "api_tokens" in str(error.value) and "at least 16 characters" in str(error.value)


def test_a_password_of_digits_from_the_environment_stays_text() -> None:
    loaded = load_config(
        HubConfig,
        None,
        environ={"TELECENTRE_MQTT__PASSWORD": "12345678", "TELECENTRE_MQTT__USERNAME": "hub"},
    )
    assert loaded.mqtt.password == "12345678"
