"""Owner-only files for sandbox state: databases, their SQLite side files and secret keys.

Nothing here touches the process umask (it is process-wide, and the embedded sandboxes share a
process with their callers): files are created with an explicit 0600 mode through `os.open`, and
existing files with wider permissions are tightened with `chmod`.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

PRIVATE_MODE = 0o600
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def tighten(path: str | Path) -> None:
    """Make an existing file owner-only (0600) if it is readable or writable by anyone else."""
    try:
        mode = os.stat(path, follow_symlinks=False).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISREG(mode) and mode & 0o077:
        os.chmod(path, PRIVATE_MODE)


def prepare_database(path: str | Path) -> None:
    """Create the SQLite file 0600 before SQLite opens it (SQLite then gives its `-wal` and `-shm`
    files the database file's mode), and tighten an existing file and its side files."""
    path = str(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), PRIVATE_MODE)
    except FileExistsError:
        pass
    else:
        os.close(fd)
    tighten_database(path)


def tighten_database(path: str | Path) -> None:
    path = str(path)
    for suffix in ("", *SQLITE_SIDE_FILES):
        tighten(path + suffix)


def load_or_create_key(path: str | Path, nbytes: int = 32) -> bytes:
    """A random secret kept in an owner-only file: read it if it exists, else create it.

    Creation is atomic and exclusive: the key is written and fsync'ed under a temporary name,
    then hard-linked to its final name, which fails if another process got there first (its key
    is then used). A reader therefore never sees a half-written key.
    """
    path = Path(path)
    if not path.exists():
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), PRIVATE_MODE)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                fh.write(secrets.token_hex(nbytes) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
            else:
                _fsync_dir(path.parent)
        finally:
            tmp.unlink(missing_ok=True)
    tighten(path)
    text = path.read_bytes().decode("ascii", "replace").strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) < 16:
        raise ValueError(f"{path} does not hold a usable key; delete it to start with a new one (this ends every session)")
    return key


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)
