"""Private files: the data directory holds the ledger, robot keys, HMAC secrets,
session tokens and a hash of the admin token, so it is 0700 and every file Warroom
writes in it 0600, whatever the umask (022 made them world-readable: 755 and 644).

New files get their mode when they are created (SQLite gives its WAL and SHM the
database file's mode; the embedded redis-server runs with umask 077); files left by an
older version are tightened when a process starts."""

from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600
CHILD_UMASK = 0o077  # for a server we start (redis-server): its files are 0600


def private_dir(path: Path) -> Path:
    """Create `path` (and parents) if needed; make it and whatever is in it private."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    _tighten(path)
    return path


def _tighten(path: Path) -> None:
    os.chmod(path, DIR_MODE)
    for entry in os.scandir(path):
        if entry.is_symlink():
            continue  # never follow a link out of the directory
        try:
            if entry.is_dir():
                _tighten(Path(entry.path))
            elif entry.is_file():
                os.chmod(entry.path, FILE_MODE)
        except OSError:
            continue  # gone meanwhile, or not ours: the next start tries again


def private_file(path: Path) -> Path:
    """Create an empty file 0600 if it does not exist (before a library writes it)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    return path


def secret_in(path: Path, nbytes: int = 32) -> bytes:
    """A server secret kept in a private file (0600), made on first use. Several
    processes starting together agree: the first to create the file writes it; the
    others read what it wrote."""
    import secrets as _secrets

    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        for _ in range(50):
            data = path.read_bytes().strip()
            if data:
                return bytes.fromhex(data.decode())
            import time

            time.sleep(0.02)  # created a moment ago, being written
        raise RuntimeError(f"{path} is empty: delete it to make a new secret") from None
    value = _secrets.token_bytes(nbytes)
    try:
        os.write(fd, value.hex().encode())
    finally:
        os.close(fd)
    return value
