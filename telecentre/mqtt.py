"""The MQTT connection settings both programs share, and how they apply to a paho client."""

from __future__ import annotations

from pathlib import Path

import paho.mqtt.client as mqtt

from telecentre.config import Strict


class Tls(Strict):
    ca: Path | None = None
    certfile: Path | None = None
    keyfile: Path | None = None


def authenticate(
    client: mqtt.Client,
    username: str | None,
    password: str | None,
    password_file: Path | None,
    tls: Tls | None,
) -> None:
    """Credentials and TLS on `client`; a password file wins over an inline password, so that
    the secret can stay out of the config (and out of the repository)."""
    if username is not None:
        if password_file is not None:
            password = password_file.read_text(encoding="utf-8").strip()
        client.username_pw_set(username, password)
    if tls is not None:
        client.tls_set(
            ca_certs=str(tls.ca) if tls.ca else None,
            certfile=str(tls.certfile) if tls.certfile else None,
            keyfile=str(tls.keyfile) if tls.keyfile else None,
        )
