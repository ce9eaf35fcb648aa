"""Files only the hub's user may read: the SQLite database (names, e-mails, badge ids) and
its WAL, tokens, keys. The service sets its umask to 0077 at start (`restrict_umask`) and
systemd does too (`UMask=0077`); the files the hub creates are also created 0600 outright,
so they stay private under any umask a shell or a test runs with.

SQLite creates `hub.db-wal` and `hub.db-shm` with the database file's own mode, so creating
the database 0600 keeps them private too.

>>> write_private(config.secret_key_path, os.urandom(32))       # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

PRIVATE_UMASK = 0o077


def restrict_umask() -> None:
    """Everything this process creates from now on: owner only."""
    os.umask(PRIVATE_UMASK)


def private_dir(path: Path) -> None:
    """`path` and its missing parents, created 0700 (an existing folder is left as it is)."""
    if not path.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir(mode=0o700, exist_ok=True)
        path.chmod(0o700)  # mkdir's mode is filtered by the umask


def create_private(path: Path) -> None:
    """An empty file at `path`, 0600, unless one is there already; then warn if anyone but
    its owner may read it (an admin may have granted a group on purpose: it stays)."""
    private_dir(path.parent)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o007:
            log.warning("%s may be read by any user (mode %04o): chmod 600 it", path, mode)
        return
    os.fchmod(descriptor, 0o600)  # os.open's mode is filtered by the umask
    os.close(descriptor)


def write_private(path: Path, data: bytes) -> None:
    """Write `data` to `path`, which nobody but the owner may read at any moment."""
    create_private(path)
    path.chmod(0o600)
    path.write_bytes(data)
