"""The hub's config: secrets from files and the environment, and errors that never print them."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.config import HubConfig, NamedToken, token_fingerprint
from telecentre.config import ConfigError, load_config


def test_api_tokens_can_live_in_a_file_of_their_own(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text("Department-Token-0001: department\nAnimator-Murat-0001: animator:murat\n")
    tokens.chmod(0o600)
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
    tokens.chmod(0o600)
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


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_tokens_file_others_may_read_is_refused_at_start(tmp_path: Path, mode: int) -> None:
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text("Department-Token-0001: department\n")
    tokens.chmod(mode)
    config = tmp_path / "hub.yaml"
    config.write_text(f"api_tokens_file: {tokens}\n")
    with pytest.raises(ConfigError) as error:
        load_config(HubConfig, config, environ={})
    message = str(error.value)
    assert f"api_tokens_file {tokens}: its group or others may read it (mode {mode:04o})" in message
    assert "chmod 600" in message and "\n" not in message.strip()
    assert "Department-Token-0001" not in message


def test_bootstrap_tokens_get_a_name_for_the_audit(tmp_path: Path) -> None:
    """The short form keeps working; the long one names the token's holder."""
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text("Alice-Department-0001: {role: department, name: alice}\n")
    tokens.chmod(0o600)
    config = tmp_path / "hub.yaml"
    config.write_text(
        f"api_tokens_file: {tokens}\napi_tokens: {{Animator-Murat-0001: 'animator:murat'}}\n"
    )
    loaded = load_config(HubConfig, config, environ={})
    assert loaded.bootstrap_tokens() == {
        "Animator-Murat-0001": NamedToken(
            role="animator:murat", name=f"animator:murat#{token_fingerprint('Animator-Murat-0001')}"
        ),
        "Alice-Department-0001": NamedToken(role="department", name="alice"),
    }
    assert "Murat-0001" not in loaded.bootstrap_tokens()["Animator-Murat-0001"].name


@pytest.mark.parametrize("role", ["animator:murat\n", "department\n", "animator:Murat"])
def test_a_role_is_matched_whole(tmp_path: Path, role: str) -> None:
    config = tmp_path / "hub.yaml"
    config.write_text(f"api_tokens: {{Department-Token-0001: {role!r}}}\n".replace("'", '"'))
    with pytest.raises(ConfigError) as error:
        load_config(HubConfig, config, environ={})
    assert "is not a role" in str(error.value)
