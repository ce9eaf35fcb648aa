"""The hub's signing key for the tests: generated once per run, never stored in the repo.

>>> payload = signed({"v": 1, "site": "murat", "version": 1, "issued": "…", "badges": []})
>>> edge_access_config()       # the `access` section of an edge config that trusts it
"""

from __future__ import annotations

import json
from typing import Any

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
