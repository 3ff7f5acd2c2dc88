"""The storage steps' view of a docker job's files: they live in the primary container.

Files leave the container with `get_archive` and enter it with `put_archive`, so the Docker daemon
extracts caches and workspaces inside the container's own filesystem (never on the agent's host).
Members are checked (names, types, limits) before they are handed over, and are given to the
container's user. docker-py is synchronous: every operation runs in a thread.
"""

from __future__ import annotations

import asyncio
import io
import posixpath
import shlex
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from backports.zstd import tarfile

from rondo.agent.steps.archives import (
    ArchiveLimits,
    HostExtractor,
    TarZstWriter,
    UnpackReport,
    read_archive,
    safe_name,
)
from rondo.agent.steps.job_files import JobFilesError, expand_path

LIST_DIR = 'cd "$1" 2>/dev/null || exit 3; for f in * .*; do case "$f" in .|..) continue;; esac; ' \
    '{ [ -e "$f" ] || [ -L "$f" ]; } && printf "%s\\0" "$f"; done; exit 0'  # fmt: skip


class _ChunkReader(io.RawIOBase):
    """A file-like view of docker-py's stream of chunks, for tarfile's stream mode."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer:
            try:
                self._buffer = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(target), len(self._buffer))
        target[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n


class DockerFiles:
    def __init__(self, container: Any, home: str, working_directory: str) -> None:
        self._container = container
        self.home = home
        self.working_directory = working_directory
        self._owner: tuple[int, int] | None = None

    def expand(self, path: str, base: str | None = None) -> str:
        return expand_path(path, self.home, self.working_directory, base)

    def _archive_of(self, path: str) -> tuple[Any, str] | None:
        """(tar stream of `path`, the name its top member has), or None when it does not exist."""
        import docker.errors

        try:
            chunks, stat = self._container.get_archive(path)
        except docker.errors.NotFound:
            return None
        return tarfile.open(fileobj=io.BufferedReader(_ChunkReader(chunks), 1024 * 1024), mode="r|"), stat["name"]

    async def list_dir(self, path: str) -> list[str] | None:
        def names() -> list[str] | None:
            result = self._container.exec_run(["/bin/sh", "-c", LIST_DIR, "sh", path], demux=True)
            if result.exit_code != 0:
                return None
            out = (result.output[0] or b"") if isinstance(result.output, tuple) else (result.output or b"")
            return sorted(n.decode("utf-8", "surrogateescape") for n in out.split(b"\0") if n)

        return await asyncio.to_thread(names)

    async def read_file(self, path: str, limit: int) -> bytes:
        def read() -> bytes:
            found = self._archive_of(path)
            if found is None:
                raise FileNotFoundError(path)
            with found[0] as tar:
                for info in tar:
                    if not info.isreg():
                        raise JobFilesError(f"{path} is not a regular file")
                    if info.size > limit:
                        raise JobFilesError(f"{path} is larger than {limit} bytes")
                    data = tar.extractfile(info)
                    assert data is not None
                    return bytes(data.read())
            raise FileNotFoundError(path)

        return await asyncio.to_thread(read)

    async def pack(self, sources: Sequence[tuple[str, str]], archive: Path) -> tuple[int, list[str]]:
        def pack() -> tuple[int, list[str]]:
            missing: list[str] = []
            files = 0
            with TarZstWriter(archive) as out:
                for path, name in sources:
                    found = self._archive_of(path)
                    if found is None:
                        missing.append(path)
                        continue
                    tar, top = found
                    with tar:
                        for info in tar:
                            # get_archive names members after the path's last segment; rename to `name`.
                            info.name = _renamed(info.name, top, name)
                            if info.islnk():
                                info.linkname = _renamed(info.linkname, top, name)
                            if not (info.isreg() or info.isdir() or info.issym() or info.islnk()):
                                continue
                            out.add(info, tar.extractfile(info) if info.isreg() else None)
                            files += 1 if info.isreg() else 0
            return files, missing

        return await asyncio.to_thread(pack)

    def _user(self) -> tuple[int, int]:
        if self._owner is None:
            result = self._container.exec_run(["/bin/sh", "-c", "id -u; id -g"])
            try:
                uid, gid = (int(x) for x in (result.output or b"").split()[:2])
            except ValueError:
                uid, gid = 0, 0
            self._owner = (uid, gid)
        return self._owner

    async def unpack(
        self,
        archive: Path,
        routes: Sequence[tuple[str, str]],
        limits: ArchiveLimits,
        *,
        strict_links: bool,
        on_member: Callable[[str], None] | None = None,
    ) -> UnpackReport:
        # Links may point anywhere: the daemon extracts inside the container, which is the job's own.
        def unpack() -> UnpackReport:
            uid, gid = self._user()
            report = UnpackReport()
            with tempfile.TemporaryDirectory(dir=archive.parent, prefix="put-") as tmp:
                plain = [Path(tmp, f"{i}.tar") for i in range(len(routes))]
                writers = [tarfile.open(p, mode="w", format=tarfile.GNU_FORMAT) for p in plain]
                used = [False] * len(routes)
                try:
                    prefixes = [prefix for prefix, _ in routes]
                    for route, rel, info, data in read_archive(archive, prefixes, limits, strict_links=False,
                                                               on_member=on_member):  # fmt: skip
                        info.name = rel
                        info.uid, info.gid, info.uname, info.gname = uid, gid, "", ""
                        writers[route].addfile(info, data)
                        used[route] = True
                        if info.isreg():
                            report.files += 1
                            report.bytes += info.size
                finally:
                    for writer in writers:
                        writer.close()
                for (_, directory), path, any_member in zip(routes, plain, used, strict=True):
                    if not any_member:
                        continue
                    self._container.exec_run(["/bin/sh", "-c", f"mkdir -p {shlex.quote(directory)}"])
                    with path.open("rb") as data:
                        if not self._container.put_archive(directory, data):
                            raise JobFilesError(f"the Docker engine refused to extract into {directory}")
            return report

        return await asyncio.to_thread(unpack)

    async def fetch(self, path: str, scratch: Path) -> Path | None:
        """Copy a file or directory out of the container (regular files and directories only)."""

        def fetch() -> Path | None:
            found = self._archive_of(path)
            if found is None:
                return None
            tar, top = found
            extractor = HostExtractor(scratch, strict_links=True)
            with tar:
                for info in tar:
                    if not (info.isreg() or info.isdir()):
                        continue
                    rel = safe_name(info.name)
                    if rel:
                        data: IO[bytes] | None = tar.extractfile(info) if info.isreg() else None
                        extractor.extract(rel, info, data)
            return scratch / safe_name(top)

        return await asyncio.to_thread(fetch)

    async def write_file(self, path: str, data: bytes, mode: int) -> None:
        def write() -> None:
            uid, gid = self._user()
            directory, name = posixpath.split(path)
            # As the job's user, so a directory made here is theirs (0700, as ~/.ssh must be).
            self._container.exec_run(["/bin/sh", "-c", 'mkdir -p -m 700 "$1"', "sh", directory])
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w") as tar:
                info = tarfile.TarInfo(name)
                info.size, info.mode, info.uid, info.gid = len(data), mode, uid, gid
                tar.addfile(info, io.BytesIO(data))
            if not self._container.put_archive(directory, buf.getvalue()):
                raise JobFilesError(f"the Docker engine refused to write {path}")

        await asyncio.to_thread(write)


def _renamed(member: str, top: str, name: str) -> str:
    member = member.rstrip("/")
    if member == top:
        return name
    if member.startswith(top + "/"):
        return posixpath.join(name, member[len(top) + 1 :]) if name not in ("", ".") else member[len(top) + 1 :]
    return posixpath.join(name, member)
