"""`console.public_url`: required as soon as other machines reach the hub (a proxy in front,
or a listening address that is not loopback), refused at start-up with a message naming the
key; the root of every link the hub hands out, and the host it answers; `http.proxy_address`
must be an IP address."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.config import HubConfig
from telecentre.config import ConfigError, load_config


def load(tmp_path: Path, text: str) -> HubConfig:
    config = tmp_path / "hub.yaml"
    config.write_text(text)
    return load_config(HubConfig, config, environ={})


@pytest.mark.parametrize(
    "http",
    [
        "{host: 127.0.0.1, port: 8080, trusted_proxies: 1}",  # behind nginx
        "{host: 0.0.0.0, port: 8080}",  # every interface
        "{host: 192.168.1.10, port: 8080}",  # the LAN's
    ],
)
def test_a_hub_others_reach_needs_its_public_url(tmp_path: Path, http: str) -> None:
    with pytest.raises(ConfigError) as error:
        load(tmp_path, f"http: {http}\n")
    message = str(error.value)
    assert "console.public_url is required" in message
    assert "https://hub.cybercantal.fr" in message  # what to write


def test_with_its_public_url_links_lead_there_and_it_answers_that_host(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        "http: {host: 127.0.0.1, port: 8080, trusted_proxies: 1}\n"
        "console: {public_url: 'https://Hub.CyberCantal.fr/'}\n",
    )
    assert config.links_root == "https://Hub.CyberCantal.fr"
    assert config.known_hosts == ["localhost", "127.0.0.1", "hub.cybercantal.fr"]


@pytest.mark.parametrize(
    ("host", "root"),
    [("127.0.0.1", "http://127.0.0.1:8081"), ("localhost", "http://localhost:8081"),
     ("::1", "http://localhost:8081")],
)  # fmt: skip
def test_a_hub_only_this_machine_reaches_links_to_where_it_listens(
    tmp_path: Path, host: str, root: str
) -> None:
    config = load(tmp_path, f"http: {{host: '{host}', port: 8081}}\n")
    assert config.links_root == root
    assert config.known_hosts == ["localhost", "127.0.0.1"]


def test_the_proxys_address_is_an_ip_address(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        load(
            tmp_path,
            "http: {trusted_proxies: 1, proxy_address: nginx.local}\n"
            "console: {public_url: 'https://hub.cybercantal.fr'}\n",
        )
    assert "proxy_address" in str(error.value) and "not an IP address" in str(error.value)
