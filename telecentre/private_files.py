"""Files only their service's user may read: the hub's SQLite database (names, e-mails,
badge ids) and its WAL, tokens, keys; the edge's access list, outbox and anti-rollback
floor. Each service sets its umask to 0077 at start (`restrict_umask`) and systemd does
too (`UMask=0077`); the files they create are also created 0600 outright, so they stay
private under any umask a shell or a test runs with.

SQLite creates `hub.db-wal` and `hub.db-shm` with the database file's own mode, so creating
the database 0600 keeps them private too.

>>> write_private(config.secret_key_path, os.urandom(32))       # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
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


def replace_private(path: Path, data: bytes) -> None:
    """Replace `path` with `data` as one step that survives a power cut: written 0600 to a
    temporary file, fsync'ed, renamed over `path`, the folder fsync'ed. After a crash the file
    is the old one or the new one, never half of each; a failure (a full SD card) leaves the
    old one and no temporary file behind."""
    private_dir(path.parent)
    tmp = path.with_suffix(".tmp")
    try:
        tmp.unlink(missing_ok=True)  # left by a crash: it may have another mode
        descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            os.fchmod(file.fileno(), 0o600)  # os.open's mode is filtered by the umask
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def tighten_private(path: Path) -> None:
    """`path` (created empty if missing) and SQLite's `-wal` and `-shm` beside it, 0600 even
    if an older version or another umask made them readable: for files that only their
    service has any business reading (the edge's outbox), unlike an admin's own choice."""
    if not path.exists():
        create_private(path)
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists() and stat.S_IMODE(file.stat().st_mode) != 0o600:
            file.chmod(0o600)
