"""The `mail`, `alerts` and `console.public_url` keys of hub.yaml: refused when wrong, with a
message naming the key; the SMTP password only from a file nobody else may read."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.config import HubConfig
from telecentre.config import ConfigError, load_config


def load(tmp_path: Path, text: str) -> HubConfig:
    config = tmp_path / "hub.yaml"
    config.write_text(text)
    return load_config(HubConfig, config, environ={})


def test_smtp_with_starttls_and_a_password_file(tmp_path: Path) -> None:
    secret = tmp_path / "smtp-password"
    secret.write_text("s3cret mot de passe\n")
    secret.chmod(0o600)
    config = load(
        tmp_path,
        "mail:\n  smtp:\n    host: smtp.cantal.fr\n    sender: alertes@cantal.fr\n"
        f"    username: alertes\n    password_file: {secret}\n"
        "alerts: {department_email: telecentres@cantal.fr, door_offline_min: 30}\n"
        "console: {public_url: 'https://hub.cybercantal.fr'}\n",
    )
    assert config.mail.smtp is not None
    assert (config.mail.smtp.port, config.mail.smtp.security) == (587, "starttls")
    assert config.mail.smtp.password() == "s3cret mot de passe"
    assert config.alerts.door_offline_min == 30
    assert config.alerts.reminder_min == 60


@pytest.mark.parametrize("mode", [0o640, 0o604])
def test_a_password_file_others_may_read_is_refused(tmp_path: Path, mode: int) -> None:
    secret = tmp_path / "smtp-password"
    secret.write_text("s3cret\n")
    secret.chmod(mode)
    with pytest.raises(ConfigError) as error:
        load(
            tmp_path,
            "mail: {smtp: {host: smtp.cantal.fr, sender: a@cantal.fr, username: a, "
            f"password_file: {secret}}}}}\n",
        )
    assert "chmod 600" in str(error.value)
    assert "s3cret" not in str(error.value)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("mail: {smtp: {host: h, sender: a@b.fr, passwd: x}}\n", "passwd"),
        ("mail: {smtp: {host: h, sender: a@b.fr, security: ssl}}\n", "security"),
        ("mail: {smtp: {host: h, sender: pas-une-adresse}}\n", "sender"),
        ("mail: {smtp: {host: h, sender: a@b.fr, username: a}}\n", "password_file"),
        ("alerts: {reminder_min: 5}\n", "reminder_min"),
        ("alerts: {department_email: 'x y@z.fr'}\n", "department_email"),
        ("console: {public_url: 'hub.cybercantal.fr'}\n", "public_url"),
    ],
)
def test_a_wrong_key_or_value_is_refused_naming_it(tmp_path: Path, text: str, named: str) -> None:
    with pytest.raises(ConfigError) as error:
        load(tmp_path, text)
    assert named in str(error.value)
