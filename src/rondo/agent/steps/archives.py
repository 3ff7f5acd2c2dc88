"""Cache and workspace archives (.tar.zst): writing them, and reading them back without surprises.

Python 3.11's tarfile lacks the 2025 extraction fixes, so every member is checked here first: no
absolute names, no `..`, only files, directories and links, a cap on members and bytes. Extraction on
the agent's host (machine executor) is our own: it never writes through a symlink that leads outside
the destination, never follows a symlink in the file it creates, and (for workspaces) refuses links
whose target leaves the destination. The docker executor hands the checked members to the Docker
daemon, which extracts them inside the job's container.
"""

from __future__ import annotations

import io
import os
import posixpath
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from backports.zstd import CompressionParameter, ZstdFile, tarfile

GIB = 1024**3
COMPRESSION_LEVEL = 1  # tar | zstd -1: caches are written often and read often
COPY_CHUNK = 1024 * 1024


class UnsafeArchive(Exception):
    """An archive member that would escape its destination, or an archive over the limits."""


@dataclass(frozen=True)
class ArchiveLimits:
    max_members: int = 2_000_000
    max_bytes: int = 64 * GIB  # uncompressed


@dataclass
class UnpackReport:
    files: int = 0
    bytes: int = 0
    names: list[str] = field(default_factory=list)


class TarZstWriter:
    """A lean streaming tar.zst writer: GNU headers (long names), zstd level 1 compressing on up to 8 CPUs.

    TarFile's stream mode copies every member and pushes its data through a small buffer; writing
    the headers and data straight into a large buffer in front of the compressor is several times faster.
    """

    def __init__(self, path: Path) -> None:
        options: dict[int, int] = {CompressionParameter.compression_level: COMPRESSION_LEVEL}
        workers = min(os.cpu_count() or 1, 8)
        if workers > 1:
            options[CompressionParameter.nb_workers] = workers
        self._zstd = ZstdFile(path, "w", options=options)
        self._out = io.BufferedWriter(self._zstd, buffer_size=COPY_CHUNK)

    def add(self, info: tarfile.TarInfo, data: IO[bytes] | None = None) -> None:
        info.uname = info.gname = ""
        info.mtime = int(info.mtime)  # whole seconds: no PAX header for every file
        header = _ustar_header(
            info.name, info.mode, info.uid, info.gid, info.size, info.mtime, info.type, info.linkname
        )
        self._out.write(header or info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape"))
        if info.isreg() and info.size:
            assert data is not None
            self._data(data, info.size)

    def add_stat(
        self, name: str, st: os.stat_result, kind: bytes, link: str = "", data: IO[bytes] | None = None
    ) -> None:
        """A member from a file's `lstat`, without building a TarInfo (the common, fast case)."""
        size = st.st_size if kind == tarfile.REGTYPE else 0
        mode = stat.S_IMODE(st.st_mode)
        header = _ustar_header(name, mode, st.st_uid, st.st_gid, size, int(st.st_mtime), kind, link)
        if header is None:
            info = tarfile.TarInfo(name)
            info.mode, info.uid, info.gid, info.size, info.mtime = mode, st.st_uid, st.st_gid, size, st.st_mtime
            info.type, info.linkname = kind, link
            self.add(info, data)
            return
        self._out.write(header)
        if size:
            assert data is not None
            self._data(data, size)

    def add_file(self, name: str, path: str, st: os.stat_result) -> None:
        """A regular file: header, data and padding in one write when it is small (most are)."""
        size = st.st_size
        header = _ustar_header(name, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, size, int(st.st_mtime),
                               tarfile.REGTYPE, "")  # fmt: skip
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        try:
            if header is not None and size <= COPY_CHUNK:
                data = os.read(fd, size)
                if len(data) == size:
                    self._out.write(header + data + bytes(-size % tarfile.BLOCKSIZE))
                    return
                os.lseek(fd, 0, os.SEEK_SET)  # it changed while being read: the careful way below
            with os.fdopen(os.dup(fd), "rb") as stream:
                self.add_stat(name, st, tarfile.REGTYPE, data=stream)
        finally:
            os.close(fd)

    def _data(self, data: IO[bytes], size: int) -> None:
        copied = _copy_exactly(data, self._out, size)
        if copied < size:  # the file shrank while it was read: pad, as GNU tar does
            self._out.write(bytes(size - copied))
        self._out.write(bytes(-size % tarfile.BLOCKSIZE))

    def close(self) -> None:
        self._out.write(bytes(2 * tarfile.BLOCKSIZE))
        self._out.close()  # closes the compressor too

    def __enter__(self) -> TarZstWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_MAGIC = b"ustar  \0"  # GNU's, as tarfile.GNU_FORMAT writes it


def _ustar_header(
    name: str, mode: int, uid: int, gid: int, size: int, mtime: int, kind: bytes, linkname: str
) -> bytes | None:
    """The 512-byte header of a common member, built directly (TarInfo.tobuf is slow); None if unusual."""
    encoded = name.encode("utf-8", "surrogateescape") + (b"/" if kind == tarfile.DIRTYPE else b"")
    link = linkname.encode("utf-8", "surrogateescape")
    if len(encoded) > 100 or len(link) > 100 or not (0 <= uid < 8**7 and 0 <= gid < 8**7 and 0 <= mode < 8**7):
        return None
    if not (0 <= size < 8**11 and 0 <= mtime < 8**11):
        return None
    buf = bytearray(tarfile.BLOCKSIZE)
    buf[0 : len(encoded)] = encoded
    buf[100:148] = b"%07o\0%07o\0%07o\0%011o\0%011o\0" % (mode, uid, gid, size, mtime)
    buf[148:156] = b"        "
    buf[156:157] = kind
    buf[157 : 157 + len(link)] = link
    buf[257:265] = _MAGIC
    buf[148:156] = b"%06o\0 " % sum(buf)
    return bytes(buf)


def _copy_exactly(src: IO[bytes], dst: Any, size: int) -> int:
    left = size
    while left > 0:
        chunk = src.read(min(COPY_CHUNK, left))
        if not chunk:
            break
        dst.write(chunk)
        left -= len(chunk)
    return size - left


def safe_name(name: str) -> str:
    """A member name as a normalised relative path, or UnsafeArchive."""
    if "\x00" in name:
        raise UnsafeArchive(f"archive member {name!r} has a NUL byte in its name")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchive(f"archive member {name!r} has an absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchive(f"archive member {name!r} climbs out of its destination with '..'")
    return "/".join(parts)


def link_escapes(name: str, target: str) -> bool:
    """Whether a symlink at `name` (relative to the destination) points outside the destination."""
    if target.startswith("/"):
        return True
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
    return resolved == ".." or resolved.startswith("../")


ZERO_BLOCK = bytes(tarfile.BLOCKSIZE)


class _MemberData(io.RawIOBase):
    """A regular member's bytes, read straight from the archive stream."""

    def __init__(self, stream: IO[bytes], size: int) -> None:
        self._stream = stream
        self._left = size
        self._pad = -size % tarfile.BLOCKSIZE

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = self._left if n is None or n < 0 else min(n, self._left)
        chunk = self._stream.read(n) if n else b""
        if len(chunk) < n:
            raise UnsafeArchive("the archive ends in the middle of a file")
        self._left -= len(chunk)
        return chunk

    def finish(self) -> None:
        """Skip what the reader left of the member, and its padding."""
        while self._left:
            self.read(COPY_CHUNK)
        if self._pad and len(self._stream.read(self._pad)) < self._pad:
            raise UnsafeArchive("the archive ends in the middle of a file")
        self._pad = 0


def _number(field: bytes) -> int:
    """A header number: octal text, or GNU's base-256 for large values."""
    if field[:1] and field[0] & 0x80:
        value = int.from_bytes(field[1:], "big")
        return -value if field[0] & 0x40 else value
    text = field.split(b"\0", 1)[0].strip()
    try:
        return int(text, 8) if text else 0
    except ValueError:
        raise UnsafeArchive(f"damaged archive: {text!r} is not a number") from None


def _text(field: bytes) -> str:
    return field.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _pax(data: bytes) -> dict[str, str]:
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data) and data[pos : pos + 1] != b"\0":
        space = data.find(b" ", pos)
        if space < 0:
            raise UnsafeArchive("damaged archive: a PAX header record has no length")
        length = int(data[pos:space] or b"0")
        record = data[space + 1 : pos + length - 1]
        key, _, value = record.partition(b"=")
        records[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        if length <= 0:
            raise UnsafeArchive("damaged archive: a PAX header record has no length")
        pos += length
    return records


def iter_tar(stream: IO[bytes]) -> Iterator[tuple[tarfile.TarInfo, IO[bytes] | None]]:
    """Members of a tar stream (ustar, GNU long names, PAX), each with its data if a regular file.

    TarFile's stream mode spends most of a restore parsing headers; this reads the same formats in a
    fraction of the time. Sparse files and other exotic members come out as members of their own type,
    which `read_archive` refuses.
    """
    long_name: str | None = None
    long_link: str | None = None
    pax: dict[str, str] = {}
    while True:
        block = stream.read(tarfile.BLOCKSIZE)
        if not block or block == ZERO_BLOCK:
            return
        if len(block) < tarfile.BLOCKSIZE:
            raise UnsafeArchive("the archive ends in the middle of a header")
        stored = _number(block[148:156])
        unsigned = sum(block[:148]) + 256 + sum(block[156:])
        if stored != unsigned and stored != unsigned - 2 * sum(b for b in block[:148] + block[156:] if b > 127):
            raise UnsafeArchive("damaged archive: a header's checksum does not match")
        kind = block[156:157]
        size = _number(block[124:136])
        if size < 0:
            raise UnsafeArchive("damaged archive: a member has a negative size")
        if kind in (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE, tarfile.XGLTYPE):
            if size > 1024 * 1024:
                raise UnsafeArchive("damaged archive: an extended header over 1 MiB")
            data = stream.read(size + (-size % tarfile.BLOCKSIZE))[:size]
            if len(data) < size:
                raise UnsafeArchive("the archive ends in the middle of a header")
            if kind == tarfile.GNUTYPE_LONGNAME:
                long_name = _text(data)
            elif kind == tarfile.GNUTYPE_LONGLINK:
                long_link = _text(data)
            elif kind == tarfile.XHDTYPE:
                pax = _pax(data)
            continue
        name = _text(block[0:100])
        if block[257:263] == b"ustar\0" and block[345:346] != b"\0":
            name = _text(block[345:500]) + "/" + name  # POSIX ustar's prefix field
        info = tarfile.TarInfo(pax.get("path", long_name if long_name is not None else name))
        info.linkname = pax.get("linkpath", long_link if long_link is not None else _text(block[157:257]))
        info.mode = _number(block[100:108])
        info.uid = int(pax.get("uid", _number(block[108:116])))
        info.gid = int(pax.get("gid", _number(block[116:124])))
        info.size = int(pax.get("size", size))
        info.mtime = int(float(pax.get("mtime", _number(block[136:148]))))
        info.type = tarfile.REGTYPE if kind in (tarfile.AREGTYPE, tarfile.CONTTYPE) else kind
        if info.type == tarfile.REGTYPE and info.name.endswith("/"):
            info.type = tarfile.DIRTYPE  # old tars mark directories only by the slash
        long_name = long_link = None
        pax = {}
        if info.type == tarfile.REGTYPE:
            member = _MemberData(stream, info.size)
            yield info, member  # type: ignore[misc]
            member.finish()
        else:
            if info.type == tarfile.GNUTYPE_SPARSE:
                info.type = b"S"  # sparse maps are not read: refused as a special member
            yield info, None
            has_data = info.type not in (tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE)
            skip = info.size + (-info.size % tarfile.BLOCKSIZE) if has_data else 0
            if skip and len(stream.read(skip)) < skip:
                raise UnsafeArchive("the archive ends in the middle of a member")


def read_archive(
    archive: Path,
    routes: Sequence[str],
    limits: ArchiveLimits,
    *,
    strict_links: bool,
    on_member: Callable[[str], None] | None = None,
) -> Iterator[tuple[int, str, tarfile.TarInfo, IO[bytes] | None]]:
    """Checked members: (route index, name below the route's prefix, member, data of a regular file).

    `routes` are name prefixes (e.g. "home/", "abs/", or "" for everything); a member under none of
    them is refused. `on_member(name)` sees every name but directories' first, and may raise to stop.
    """
    members = 0
    total = 0
    with ZstdFile(archive, "rb") as compressed:
        for info, data in iter_tar(io.BufferedReader(compressed, COPY_CHUNK)):
            members += 1
            if members > limits.max_members:
                raise UnsafeArchive(f"the archive has more than {limits.max_members} members")
            name = safe_name(info.name)
            if not name:
                continue  # the destination itself ("./")
            route = next((i for i, prefix in enumerate(routes) if (name + "/").startswith(prefix)), None)
            if route is None:
                raise UnsafeArchive(f"archive member {name!r} is not under {', '.join(map(repr, routes))}")
            rel = name[len(routes[route]) :].strip("/")
            if not rel:
                continue
            if not (info.isreg() or info.isdir() or info.issym() or info.islnk()):
                raise UnsafeArchive(f"archive member {name!r} is a device, FIFO or other special file")
            if info.issym() and strict_links and link_escapes(rel, info.linkname):
                raise UnsafeArchive(f"archive member {name!r} links to {info.linkname!r}, outside its destination")
            if info.islnk():
                source = safe_name(info.linkname)
                if not (source + "/").startswith(routes[route]):
                    raise UnsafeArchive(f"archive member {name!r} is a hard link to {source!r}, outside it")
                info.linkname = source[len(routes[route]) :].strip("/")
            if info.isreg():
                total += info.size
                if total > limits.max_bytes:
                    raise UnsafeArchive(f"the archive holds more than {limits.max_bytes} bytes")
            if on_member is not None and not info.isdir():
                on_member(rel)
            yield route, rel, info, data


class HostExtractor:
    """Writes checked members below one destination directory on this host."""

    def __init__(self, dest: Path, *, strict_links: bool) -> None:
        dest.mkdir(parents=True, exist_ok=True)
        self.dest = os.path.realpath(dest)
        self._strict_links = strict_links
        self._dirs: set[str] = {self.dest}  # directories known to be real and inside

    def _inside(self, real: str) -> bool:
        return self.dest == "/" or real == self.dest or real.startswith(self.dest + "/")

    def _directory(self, path: str, name: str) -> None:
        """Make `path` a directory inside the destination, refusing symlinks that lead out of it."""
        if path in self._dirs:
            return
        parent = os.path.dirname(path)
        if parent != path and parent not in self._dirs:
            self._directory(parent, name)
        if os.path.islink(path):
            real = os.path.realpath(path)
            if not self._inside(real) or not os.path.isdir(real):
                raise UnsafeArchive(f"archive member {name!r} would be written through the link {path}")
        elif not os.path.isdir(path):
            if os.path.lexists(path):
                os.unlink(path)
            os.mkdir(path, 0o755)
        self._dirs.add(path)

    def _clear(self, target: str, rel: str) -> None:
        """Remove what is at `target` (a file or a link, never followed) before a member takes its place."""
        if os.path.isdir(target) and not os.path.islink(target):
            raise UnsafeArchive(f"archive member {rel!r} would replace a directory")
        if os.path.lexists(target):
            os.unlink(target)

    def extract(self, rel: str, info: tarfile.TarInfo, data: IO[bytes] | None) -> int:
        """Write one member; returns the bytes written."""
        target = os.path.join(self.dest, rel)
        parent = os.path.dirname(target)
        if parent not in self._dirs:
            self._directory(parent, rel)
        if info.isreg():
            assert data is not None
            mode = (info.mode & 0o755) | 0o600
            try:
                fd = os.open(target, _CREATE, mode)
            except FileExistsError:
                self._clear(target, rel)
                fd = os.open(target, _CREATE, mode)
            try:
                left = info.size
                while left > 0:
                    chunk = data.read(min(COPY_CHUNK, left))
                    if not chunk:
                        break
                    os.write(fd, chunk)
                    left -= len(chunk)
                os.utime(fd, (info.mtime, info.mtime))
            finally:
                os.close(fd)
            return info.size
        if info.isdir():
            self._directory(target, rel)
            os.chmod(target, (info.mode & 0o755) | 0o700)
            return 0
        self._clear(target, rel)
        if info.issym():
            if self._strict_links and link_escapes(rel, info.linkname):
                raise UnsafeArchive(f"archive member {rel!r} links to {info.linkname!r}, outside its destination")
            os.symlink(info.linkname, target)
            return 0
        real = os.path.realpath(os.path.join(self.dest, info.linkname))  # a hard link
        if not self._inside(real) or not os.path.isfile(real):
            raise UnsafeArchive(f"archive member {rel!r} is a hard link to {info.linkname!r}, not a file inside")
        os.link(real, target)
        return 0


_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def extract_on_host(
    archive: Path,
    routes: Sequence[tuple[str, Path]],
    limits: ArchiveLimits,
    *,
    strict_links: bool,
    on_member: Callable[[str], None] | None = None,
) -> UnpackReport:
    """Extract a .tar.zst: members under each route's prefix go below that route's directory."""
    extractors = [HostExtractor(dest, strict_links=strict_links) for _, dest in routes]
    report = UnpackReport()
    prefixes = [prefix for prefix, _ in routes]
    for route, rel, info, data in read_archive(archive, prefixes, limits, strict_links=strict_links,
                                               on_member=on_member):  # fmt: skip
        report.bytes += extractors[route].extract(rel, info, data)
        report.files += 1 if info.isreg() else 0
    return report


def pack_on_host(sources: Sequence[tuple[Path, str]], archive: Path) -> tuple[int, list[Path]]:
    """Write `sources` (host path, name in the archive) as a tar.zst; returns (files, missing paths)."""
    missing: list[Path] = []
    files = 0
    with TarZstWriter(archive) as tar:
        for path, name in sources:
            if not os.path.lexists(path):
                missing.append(path)
                continue
            files += _add_tree(tar, str(path), name)
    return files, missing


def _add_tree(tar: TarZstWriter, root: str, name: str) -> int:
    count = 0
    stack = [(root, name)]
    while stack:
        path, arcname = stack.pop()
        try:
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode):
                tar.add_file(arcname, path, st)
                count += 1
            elif stat.S_ISDIR(st.st_mode):
                tar.add_stat(arcname, st, tarfile.DIRTYPE)
                entries = sorted(os.listdir(path), reverse=True)
                stack.extend((os.path.join(path, e), f"{arcname}/{e}") for e in entries)
            elif stat.S_ISLNK(st.st_mode):
                tar.add_stat(arcname, st, tarfile.SYMTYPE, os.readlink(path))
            # sockets, FIFOs and devices are left out, as CircleCI does
        except FileNotFoundError:
            continue  # gone since it was listed
    return count
