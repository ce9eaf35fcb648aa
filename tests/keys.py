"""The hub's signing key for the tests: generated once per run, never stored in the repo.

>>> payload = signed({"v": 1, "site": "murat", "version": 1, "issued": "…", "badges": []})
>>> edge_access_config()       # the `access` section of an edge config that trusts it
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from telecentre import wire
from telecentre.signing import SigningKey, TrustedKeys

HUB_KEY = SigningKey.generate()
#: A key nobody configured: what a forger who is not the hub signs with.
FORGER_KEY = SigningKey.generate()
TRUSTED = TrustedKeys.from_texts([HUB_KEY.public_text])


def signed(payload: dict[str, Any], key: SigningKey = HUB_KEY) -> bytes:
    return key.sign_access_list(payload)


def resigned(payload: bytes, key: SigningKey = HUB_KEY) -> bytes:
    """An access list payload (signed or not) signed again by `key`."""
    return key.sign_access_list(json.loads(payload))


def edge_access_config(*keys: SigningKey) -> dict[str, Any]:
    return {"hub_public_keys": [key.public_text for key in keys or (HUB_KEY,)]}


def signed_command(
    site: str,
    device: str,
    door: str = "main",
    seconds: float = 30,
    issued: datetime | None = None,
    key: SigningKey = HUB_KEY,
    command_id: str | None = None,
) -> bytes:
    """An unlock command as the hub sends it (signed, issued now unless said otherwise)."""
    return key.sign_command(
        wire.unlock_command(
            command_id=command_id or str(uuid.uuid4()),
            site=site,
            device=device,
            door=door,
            seconds=seconds,
            issued=issued or datetime.now(UTC),
        )
    )
