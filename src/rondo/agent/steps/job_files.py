"""What the storage steps need from an executor: the job's files, read, packed and unpacked.

The machine executor's files are on this host (`HostFiles`); the docker executor's are in the job's
container (`rondo.agent.executors.docker_files`). Paths are the job's own: absolute, or relative to
the working directory, with `~` for the job's home.
"""

from __future__ import annotations

import asyncio
import os
import posixpath
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from rondo.agent.steps.archives import ArchiveLimits, UnpackReport, extract_on_host, pack_on_host


class JobFilesError(Exception):
    """A path of the job that cannot be used, with the reason."""


class JobFiles(Protocol):
    home: str
    working_directory: str

    def expand(self, path: str, base: str | None = None) -> str:
        """An absolute path in the job: `~` is the home, relative paths are below `base` (the working dir)."""
        ...

    async def list_dir(self, path: str) -> list[str] | None:
        """The names in a directory of the job, or None when it is not a directory."""
        ...

    async def read_file(self, path: str, limit: int) -> bytes:
        """A file's bytes (FileNotFoundError if missing, JobFilesError if over `limit`)."""
        ...

    async def pack(self, sources: Sequence[tuple[str, str]], archive: Path) -> tuple[int, list[str]]:
        """Write (job path, name in the archive) pairs as a tar.zst on this host: (files, missing paths)."""
        ...

    async def unpack(
        self,
        archive: Path,
        routes: Sequence[tuple[str, str]],
        limits: ArchiveLimits,
        *,
        strict_links: bool,
        on_member: Callable[[str], None] | None = None,
    ) -> UnpackReport:
        """Extract a checked tar.zst into the job: members under each (prefix, job dir) route go there."""
        ...

    async def fetch(self, path: str, scratch: Path) -> Path | None:
        """A file or directory of the job as a path on this host (copied below `scratch` if need be)."""
        ...

    async def write_file(self, path: str, data: bytes, mode: int) -> None:
        """Write a file of the job's user with `mode` (replacing one there); a missing directory is made 0700."""
        ...


def expand_path(path: str, home: str, working_directory: str, base: str | None = None) -> str:
    if path == "~" or path.startswith("~/"):
        return posixpath.normpath(home + path[1:])
    if path.startswith("/"):
        return posixpath.normpath(path)
    return posixpath.normpath(posixpath.join(base or working_directory, path))


class HostFiles:
    """A job whose files are on this host: the machine executor (and the fake one)."""

    def __init__(self, home: Path, working_directory: Path) -> None:
        self.home = str(home)
        self.working_directory = str(working_directory)

    def expand(self, path: str, base: str | None = None) -> str:
        return expand_path(path, self.home, self.working_directory, base)

    async def list_dir(self, path: str) -> list[str] | None:
        def names() -> list[str] | None:
            return sorted(os.listdir(path)) if os.path.isdir(path) else None

        return await asyncio.to_thread(names)

    async def read_file(self, path: str, limit: int) -> bytes:
        def read() -> bytes:
            with open(path, "rb") as fh:
                data = fh.read(limit + 1)
            if len(data) > limit:
                raise JobFilesError(f"{path} is larger than {limit} bytes")
            return data

        try:
            return await asyncio.to_thread(read)
        except IsADirectoryError:
            raise JobFilesError(f"{path} is a directory, not a file") from None

    async def pack(self, sources: Sequence[tuple[str, str]], archive: Path) -> tuple[int, list[str]]:
        files, missing = await asyncio.to_thread(pack_on_host, [(Path(p), n) for p, n in sources], archive)
        return files, [str(m) for m in missing]

    async def unpack(
        self,
        archive: Path,
        routes: Sequence[tuple[str, str]],
        limits: ArchiveLimits,
        *,
        strict_links: bool,
        on_member: Callable[[str], None] | None = None,
    ) -> UnpackReport:
        host_routes = [(prefix, Path(directory)) for prefix, directory in routes]
        return await asyncio.to_thread(
            extract_on_host, archive, host_routes, limits, strict_links=strict_links, on_member=on_member
        )

    async def fetch(self, path: str, scratch: Path) -> Path | None:
        exists = await asyncio.to_thread(os.path.exists, path)
        return Path(path) if exists else None

    async def write_file(self, path: str, data: bytes, mode: int) -> None:
        def write() -> None:
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.chmod(path, mode)  # a file that was there keeps its old mode otherwise

        await asyncio.to_thread(write)
