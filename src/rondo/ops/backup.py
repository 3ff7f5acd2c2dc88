"""`rondo backup`: one archive with a consistent database snapshot, the key material and the local objects.

Safe while the server runs. The database is copied first, then the secret files, then the objects:
objects are immutable once written and every committed row's object existed before its row, so the
objects present after the snapshot cover every row in it. The keyring is read before and after the
snapshot and both readings are kept, so a `rondo keys rotate` running meanwhile cannot leave the
archive without the key some row was wrapped with.
"""

from __future__ import annotations

import base64
import getpass
import json
import os
import secrets
import socket
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rondo import __version__
from rondo.ops.audit import SERVER_SCOPE, Origin, Ref, record
from rondo.ops.backup_archive import ArchiveWriter, Progress
from rondo.ops.backup_database import database_kind, describe, snapshot
from rondo.ops.backup_format import (
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    NOT_INCLUDED,
    OBJECTS_PREFIX,
    POSTGRES_MEMBER,
    SECRET_FILES,
    SECRETS_PREFIX,
    SQLITE_MEMBER,
    BackupError,
    DatabasePart,
    FilePart,
    Manifest,
    ObjectsPart,
    SecretPart,
    human_size,
    listing_digest,
)
from rondo.secrets.keyring import KEYRING_FILE, KEYS_DIR
from rondo.secrets.server_key import KEY_FILE
from rondo.settings import Settings
from rondo.store.db import Database

OBJECTS_DIR = "objects"
TEMP_OBJECT_PREFIX = ".tmp-"  # an upload being written (objects.local): not an object yet


@dataclass(frozen=True)
class BackupReport:
    path: Path
    bytes: int
    sha256: str
    manifest: Manifest


def default_output(now: datetime | None = None) -> Path:
    return Path(f"rondo-backup-{(now or datetime.now(UTC)):%Y%m%dT%H%M%SZ}.tar.zst")


def create_backup(settings: Settings, output: Path, *, include_objects: bool, progress: Progress) -> BackupReport:
    """Write the archive to `output` (atomically, mode 0600) and return what it holds."""
    url = settings.resolved_database_url
    kind = database_kind(url)
    data_dir = settings.resolved_data_dir
    output = output.expanduser().absolute()
    objects_root = data_dir / OBJECTS_DIR
    if not output.parent.is_dir():
        raise BackupError(f"cannot write {output}: the folder {output.parent} does not exist")
    if not settings.s3_bucket and output.is_relative_to(objects_root):
        raise BackupError(f"write the backup outside the object store ({objects_root})")
    keyring_before = _read(data_dir / KEYS_DIR / KEYRING_FILE)
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=".rondo-backup-") as work:
        snap = Path(work) / "database"
        created_at = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        progress(f"copying the database ({describe(url)})")
        revision = snapshot(url, snap)
        progress(f"database copied: {human_size(snap.stat().st_size)}, schema revision {revision}")
        secret_files = _secret_files(settings, data_dir, keyring_before)
        tmp = output.with_name(f".{output.name}.{secrets.token_hex(4)}.partial")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                writer = ArchiveWriter(fh)
                written = writer.add_file(SQLITE_MEMBER if kind == "sqlite" else POSTGRES_MEMBER, snap)
                assert written is not None
                database = DatabasePart(
                    **FilePart(path=written.path, bytes=written.bytes, sha256=written.sha256).model_dump(),
                    kind=kind,
                    dump_format="sqlite3" if kind == "sqlite" else "pg_dump-custom",
                )
                parts = []
                for rel, (data, source) in secret_files.items():
                    w = writer.add_bytes(SECRETS_PREFIX + rel, data)
                    parts.append(SecretPart(path=w.path, bytes=w.bytes, sha256=w.sha256, restore_to=rel, source=source))
                progress(f"key material: {', '.join(secret_files)}")
                objects = _add_objects(writer, settings, objects_root, include_objects, progress)
                manifest = Manifest(
                    format=FORMAT,
                    format_version=FORMAT_VERSION,
                    rondo_version=__version__,
                    alembic_revision=revision,
                    database_kind=kind,
                    created_at=created_at,
                    host=socket.gethostname(),
                    master_key="vault" if settings.vault_url else "keyring",
                    database=database,
                    secrets=parts,
                    objects=objects,
                    settings=_settings_for_reference(settings),
                    not_included=NOT_INCLUDED,
                )
                writer.add_bytes(MANIFEST, manifest.model_dump_json(indent=2).encode() + b"\n")
                size, digest = writer.close()
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, output)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    _fsync_dir(output.parent)
    return BackupReport(output, size, digest, manifest)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _secret_files(settings: Settings, data_dir: Path, keyring_before: bytes | None) -> dict[str, tuple[bytes, Any]]:
    """Data-dir path -> (content, where it came from), for every secret file the installation has."""
    found: dict[str, tuple[bytes, Any]] = {}
    for rel in SECRET_FILES:
        data = _read(data_dir / rel)
        if rel == f"{KEYS_DIR}/{KEYRING_FILE}":
            data = _merged_keyring(keyring_before, data)
        if rel == KEY_FILE and settings.secret_key:
            found[rel] = (settings.secret_key.encode() + b"\n", "RONDO_SECRET_KEY")
        elif data is not None:
            found[rel] = (data, "data_dir")
    if KEY_FILE not in found:
        raise BackupError(f"no server key in {data_dir} and RONDO_SECRET_KEY is not set: is RONDO_DATA_DIR right?")
    if not settings.vault_url and f"{KEYS_DIR}/{KEYRING_FILE}" not in found:
        raise BackupError(f"there is no keyring at {data_dir / KEYS_DIR / KEYRING_FILE}: is RONDO_DATA_DIR right?")
    return found


def _merged_keyring(before: bytes | None, after: bytes | None) -> bytes | None:
    """The keyring as it is; if a rotation changed it during the snapshot, every key of both readings."""
    if before is None or after is None or before == after:
        return after if after is not None else before
    try:
        old, new = json.loads(before), json.loads(after)
        keys = {k["id"]: k for k in old["keys"]} | {k["id"]: k for k in new["keys"]}
        for key in keys.values():
            base64.b64decode(key["key"], validate=True)
    except (ValueError, KeyError, TypeError) as exc:
        raise BackupError(f"the keyring changed while the backup ran and cannot be read: {exc}") from None
    body = {**new, "keys": list(keys.values())}
    return (json.dumps(body, indent=2) + "\n").encode()


def _add_objects(
    writer: ArchiveWriter, settings: Settings, root: Path, include: bool, progress: Progress
) -> ObjectsPart:
    if settings.s3_bucket:
        note = (
            "objects live in the S3 bucket and are not in this archive: keep the bucket's own copies "
            "(versioning, replication) and point the restored installation at it"
        )
        progress(f"objects: in S3 bucket {settings.s3_bucket}, not included")
        return ObjectsPart(backend="s3", included=False, bucket=settings.s3_bucket, note=note)
    if not include:
        progress("objects: left out (--no-objects)")
        note = f"left out with --no-objects: copy {root} yourself to keep artifacts, caches and output"
        return ObjectsPart(backend="local", included=False, note=note)
    keys: list[str] = []
    for dirpath, dirs, files in os.walk(root):
        dirs.sort()
        base = Path(dirpath).relative_to(root)
        keys.extend((base / name).as_posix() for name in files if not name.startswith(TEMP_OBJECT_PREFIX))
    keys.sort()
    progress(f"objects: {len(keys)} files in {root}")
    digests: dict[str, str] = {}
    size = 0
    for key in keys:
        w = writer.add_file(OBJECTS_PREFIX + key, root / key)
        if w is not None:  # gone since it was listed: deleted by the janitor, so no row needs it
            digests[key] = w.sha256
            size += w.bytes
    progress(f"objects added: {len(digests)} files, {human_size(size)}")
    return ObjectsPart(backend="local", included=True, files=len(digests), bytes=size, sha256=listing_digest(digests))


def _settings_for_reference(settings: Settings) -> dict[str, str]:
    url = settings.resolved_database_url
    values = {
        "database": describe(url),
        "public_url": settings.resolved_public_url,
        "s3_bucket": settings.s3_bucket,
        "s3_endpoint": settings.s3_endpoint,
        "s3_region": settings.s3_region,
        "vault_url": settings.vault_url,
        "vault_transit_path": settings.vault_transit_path if settings.vault_url else "",
        "vault_key_name": settings.vault_key_name if settings.vault_url else "",
        "storage_object_expiry_days": str(settings.storage_object_expiry_days),
    }
    return {k: v for k, v in values.items() if v}


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---- the audit log ---------------------------------------------------------------------------


def operator_origin() -> Origin:
    """Backups and restores are run at the server's shell: the actor is that account on that host."""
    user, host = getpass.getuser(), socket.gethostname()
    return Origin(Ref(f"{user}@{host}", "operator", user))


async def record_system_event(url: str, action: str, payload: dict[str, Any], *, success: bool = True) -> None:
    db = Database(url)
    try:
        async with db.session() as session:
            record(session, action, operator_origin(), SERVER_SCOPE, SERVER_SCOPE, payload, success=success)
    finally:
        await db.close()


def backup_event(report: BackupReport) -> dict[str, Any]:
    m = report.manifest
    return {
        "file": str(report.path),
        "bytes": report.bytes,
        "sha256": report.sha256,
        "database": m.database_kind,
        "alembic_revision": m.alembic_revision,
        "objects": {"backend": m.objects.backend, "included": m.objects.included, "files": m.objects.files},
    }
