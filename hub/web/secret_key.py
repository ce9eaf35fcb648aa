"""The key that signs the console's session cookies: made at first start, kept in a file
only the hub's user can read, so sessions survive a restart of the hub."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def load_secret_key(path: Path) -> bytes:
    """The key in `path`, made (32 random bytes, hex, mode 0600) if the file is missing."""
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as file:
        file.write(key.hex() + "\n")
    return key
