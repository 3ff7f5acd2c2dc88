"""Writing a backup archive (tar + zstd, checksummed as it goes) and reading one back into a staging folder.

Reading checks everything before anything is restored: every member's name and type, every part's size
and sha256 against the manifest (the last member), and the zstd frame's own checksum. A foreign,
truncated or damaged file is refused with a message that says which.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, BinaryIO

from backports.zstd import CompressionParameter, ZstdError, ZstdFile, tarfile
from pydantic import ValidationError

from rondo.objects import ObjectKeyError, check_key
from rondo.ops.backup_format import (
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    OBJECTS_PREFIX,
    POSTGRES_MEMBER,
    SECRET_FILES,
    SECRETS_PREFIX,
    SQLITE_MEMBER,
    BackupError,
    Manifest,
    listing_digest,
)

CHUNK = 1024 * 1024
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
COMPRESSION_LEVEL = 3

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Written:
    path: str
    bytes: int
    sha256: str


class _HashingFile:
    """The archive's file: hashes what is written, so the summary can print the archive's sha256."""

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self._fh.write(data)
        self.sha256.update(data)
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        self._fh.flush()

    def close(self) -> None:
        """The caller owns the file (it fsyncs and renames it): closing the compressor leaves it open."""


class _HashingReader:
    def __init__(self, fh: IO[bytes]) -> None:
        self._fh = fh
        self.sha256 = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self._fh.read(n)
        self.sha256.update(data)
        self.size += len(data)
        return data


class ArchiveWriter:
    """Appends members to a tar.zst stream; each `add_*` returns the member's size and sha256."""

    def __init__(self, fh: BinaryIO) -> None:
        self._raw = _HashingFile(fh)
        options: dict[int, int] = {
            CompressionParameter.compression_level: COMPRESSION_LEVEL,
            CompressionParameter.checksum_flag: 1,
        }
        workers = min(os.cpu_count() or 1, 4)
        if workers > 1:
            options[CompressionParameter.nb_workers] = workers
        self._zstd = ZstdFile(self._raw, "w", options=options)
        self._buffered = io.BufferedWriter(self._zstd, buffer_size=CHUNK)
        self._tar = tarfile.open(fileobj=self._buffered, mode="w", format=tarfile.GNU_FORMAT)

    def _info(self, name: str, size: int, mtime: float) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime, info.type = size, 0o600, int(mtime), tarfile.REGTYPE
        return info

    def add_bytes(self, name: str, data: bytes) -> Written:
        self._tar.addfile(self._info(name, len(data), time.time()), io.BytesIO(data))
        return Written(name, len(data), hashlib.sha256(data).hexdigest())

    def add_file(self, name: str, path: Path) -> Written | None:
        """A file as it is now; None if it vanished first (an object deleted by the janitor meanwhile)."""
        try:
            fh = path.open("rb")
        except FileNotFoundError:
            return None
        with fh:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode):
                return None
            reader = _HashingReader(fh)
            self._tar.addfile(self._info(name, st.st_size, st.st_mtime), reader)
        return Written(name, reader.size, reader.sha256.hexdigest())

    def close(self) -> tuple[int, str]:
        """Finish the archive; its compressed size and sha256."""
        self._tar.close()
        self._buffered.close()  # closes the compressor, which writes the last frame
        return self._raw.size, self._raw.sha256.hexdigest()


# ---- reading ---------------------------------------------------------------------------------


@dataclass
class Staged:
    """An archive unpacked into a staging folder and checked against its manifest."""

    root: Path
    manifest: Manifest
    database: Path
    secrets: dict[str, Path] = field(default_factory=dict)  # path relative to the data dir -> staged file
    objects: Path | None = None  # a folder laid out as the local object store


def _refuse(archive: Path, why: str) -> BackupError:
    return BackupError(f"{archive} {why}; nothing was changed")


def _member_kind(name: str) -> str | None:
    if name == MANIFEST:
        return "manifest"
    if name in (SQLITE_MEMBER, POSTGRES_MEMBER):
        return "database"
    if name.startswith(SECRETS_PREFIX) and name[len(SECRETS_PREFIX) :] in SECRET_FILES:
        return "secret"
    if name.startswith(OBJECTS_PREFIX):
        try:
            check_key(name[len(OBJECTS_PREFIX) :])
        except ObjectKeyError:
            return None
        return "object"
    return None


def _copy_out(source: IO[bytes], target: Path) -> tuple[int, str]:
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    digest, size = hashlib.sha256(), 0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as out:
        while chunk := source.read(CHUNK):
            out.write(chunk)
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


class _Unpacked:
    def __init__(self) -> None:
        self.manifest: bytes | None = None
        self.database: tuple[str, Path, int, str] | None = None
        self.secrets: dict[str, tuple[Path, int, str]] = {}
        self.objects: dict[str, tuple[int, str]] = {}


def stage(archive: Path, root: Path, progress: Progress) -> Staged:
    """Unpack `archive` into `root` (made here, empty) and check it; BackupError if it is not whole."""
    try:
        with archive.open("rb") as fh:
            if fh.read(4) != ZSTD_MAGIC:
                raise _refuse(archive, "is not a Rondo backup (not a zstd-compressed archive made by `rondo backup`)")
    except OSError as exc:
        raise BackupError(f"cannot read {archive}: {exc.strerror or exc}") from None
    root.mkdir(mode=0o700)
    progress(f"checking {archive}")
    unpacked = _Unpacked()
    try:
        with archive.open("rb") as fh, ZstdFile(fh, "r") as zf:
            _unpack(archive, zf, root, unpacked)
            while zf.read(CHUNK):  # the rest of the zstd stream: a truncated end is found here
                pass
    except (ZstdError, EOFError, tarfile.TarError) as exc:
        first = unpacked.database is None and not unpacked.secrets and not unpacked.objects
        if first and isinstance(exc, tarfile.TarError):
            raise _refuse(archive, "is not a Rondo backup (not a tar archive inside the zstd stream)") from None
        raise _refuse(archive, f"is truncated or damaged ({type(exc).__name__}: {exc})") from None
    return _check(archive, root, unpacked)


def _unpack(archive: Path, zf: ZstdFile, root: Path, unpacked: _Unpacked) -> None:
    with tarfile.open(fileobj=zf, mode="r|") as tar:
        for member in tar:
            kind = _member_kind(member.name)
            if kind is None:
                raise _refuse(archive, f"is not a Rondo backup (it holds {member.name!r})")
            if not member.isreg():
                raise _refuse(archive, f"is not a Rondo backup ({member.name!r} is not a regular file)")
            if unpacked.manifest is not None:
                raise _refuse(archive, f"is damaged: {member.name!r} follows the manifest")
            source = tar.extractfile(member)
            assert source is not None
            if kind == "manifest":
                unpacked.manifest = source.read(16 * CHUNK)
                continue
            target = root / member.name
            if target.exists():
                raise _refuse(archive, f"is damaged: {member.name!r} appears twice")
            size, digest = _copy_out(source, target)
            if kind == "database":
                if unpacked.database is not None:
                    raise _refuse(archive, "is damaged: it holds two databases")
                unpacked.database = (member.name, target, size, digest)
            elif kind == "secret":
                unpacked.secrets[member.name] = (target, size, digest)
            else:
                unpacked.objects[member.name[len(OBJECTS_PREFIX) :]] = (size, digest)


def _read_manifest(archive: Path, raw: bytes | None) -> Manifest:
    if raw is None:
        raise _refuse(archive, "has no manifest: it is truncated, or not a Rondo backup")
    try:
        data = json.loads(raw)
    except ValueError:
        raise _refuse(archive, "has a manifest that is not JSON: it is damaged") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise _refuse(archive, "is not a Rondo backup (its manifest is not a rondo-backup manifest)")
    version = data.get("format_version")
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise _refuse(archive, f"was made by a newer Rondo (archive format {version}); upgrade Rondo to restore it")
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        raise _refuse(archive, f"has a manifest this Rondo cannot read: {exc.errors()[0]['msg']}") from None


def _check(archive: Path, root: Path, unpacked: _Unpacked) -> Staged:
    manifest = _read_manifest(archive, unpacked.manifest)

    def mismatch(what: str) -> BackupError:
        return _refuse(archive, f"is damaged: {what} does not match its checksum in the manifest")

    db = manifest.database
    expected = {"sqlite": SQLITE_MEMBER, "postgresql": POSTGRES_MEMBER}[db.kind]
    if db.path != expected or db.kind != manifest.database_kind:
        raise _refuse(archive, f"has a manifest that contradicts itself (a {db.kind} database in {db.path})")
    if unpacked.database is None or unpacked.database[0] != db.path:
        raise _refuse(archive, f"is damaged: the database ({db.path}) is missing")
    if unpacked.database[2:] != (db.bytes, db.sha256):
        raise mismatch(f"the database ({db.path})")
    staged = Staged(root, manifest, unpacked.database[1])

    listed = {s.path for s in manifest.secrets}
    if set(unpacked.secrets) != listed:
        extra = sorted(set(unpacked.secrets) ^ listed)
        raise _refuse(archive, f"is damaged: its secret files differ from the manifest ({', '.join(extra)})")
    for secret in manifest.secrets:
        if secret.restore_to not in SECRET_FILES or secret.path != SECRETS_PREFIX + secret.restore_to:
            raise _refuse(archive, f"has a manifest naming an unknown secret file ({secret.restore_to!r})")
        target, size, digest = unpacked.secrets[secret.path]
        if (size, digest) != (secret.bytes, secret.sha256):
            raise mismatch(secret.path)
        staged.secrets[secret.restore_to] = target

    objects = manifest.objects
    found = (len(unpacked.objects), sum(size for size, _ in unpacked.objects.values()))
    if not objects.included:
        if unpacked.objects:
            raise _refuse(archive, "is damaged: it holds objects its manifest says it does not")
        return staged
    if found != (objects.files, objects.bytes):
        raise _refuse(
            archive,
            f"is damaged: it holds {found[0]} objects ({found[1]} bytes), "
            f"its manifest {objects.files} ({objects.bytes} bytes)",
        )
    if listing_digest({key: digest for key, (_, digest) in unpacked.objects.items()}) != objects.sha256:
        raise mismatch("the objects")
    staged.objects = root / OBJECTS_PREFIX.rstrip("/")
    staged.objects.mkdir(mode=0o700, exist_ok=True)  # an installation without objects yet
    return staged
