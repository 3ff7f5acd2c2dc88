"""Who is using a data dir: `rondo server` holds a shared lock on `$RONDO_DATA_DIR/server.lock`, a restore
an exclusive one, so a restore never runs under a live server and a server never starts mid-restore.

`flock` locks end with their process, so a crashed server leaves no stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

LOCK_FILE = "server.lock"


class DataDirBusy(Exception):
    """Another process holds the data dir in a way that conflicts with what was asked."""


def _open(data_dir: Path) -> int:
    data_dir.mkdir(parents=True, exist_ok=True)
    return os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)


def _holder(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    pid = os.read(fd, 64).decode(errors="replace").strip()
    return f" (pid {pid})" if pid.isdigit() else ""


@contextmanager
def _locked(data_dir: Path, operation: int, refusal: Callable[[str], str]) -> Iterator[None]:
    """Hold the lock file with `operation` (shared or exclusive), or raise DataDirBusy with the `refusal` for
    the process that holds it (" (pid N)", or "" when unknown)."""
    fd = _open(data_dir)
    try:
        try:
            fcntl.flock(fd, operation | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DataDirBusy(refusal(_holder(fd))) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def serving(data_dir: Path) -> AbstractContextManager[None]:
    """Held by `rondo server` while it runs; refused while a restore runs in the same data dir."""
    return _locked(
        data_dir,
        fcntl.LOCK_SH,
        lambda holder: f"a restore{holder} is running in {data_dir}; start the server when it has finished",
    )


def exclusive(data_dir: Path, what: str) -> AbstractContextManager[None]:
    """Held by a restore: refused while a server (or another restore) uses the data dir."""
    return _locked(
        data_dir,
        fcntl.LOCK_EX,
        lambda holder: f"a Rondo server{holder} is running with the data dir {data_dir}; stop it before {what}",
    )
