"""`rondo restore`: check an archive whole, check the target, then put the database, keys and objects back
and upgrade the schema to this Rondo's.

Nothing is changed until the archive has been unpacked into a staging folder and every checksum
matched, and the target has been found empty (or `--force` given), idle and compatible. The caller
finishes inside the same lock (marking the work that was running at backup time, the audit event).
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from rondo.ops import backup_database
from rondo.ops.backup_archive import Progress, Staged, stage
from rondo.ops.backup_format import SECRET_FILES, BackupError, Manifest
from rondo.ops.data_dir_lock import DataDirBusy, exclusive
from rondo.secrets.keyring import KEYRING_FILE, KEYS_DIR
from rondo.secrets.server_key import KEY_FILE
from rondo.settings import Settings
from rondo.store.migrate import head_revision, is_known_revision, upgrade

OBJECTS_DIR = "objects"
T = TypeVar("T")


@dataclass
class RestoreReport:
    manifest: Manifest
    database: str
    revision: str  # the schema's revision after the upgrade
    secrets: list[str]
    objects: int | None  # objects put back, None when the archive had none
    warnings: list[str] = field(default_factory=list)


def restore_backup(
    settings: Settings,
    archive: Path,
    *,
    force: bool,
    progress: Progress,
    finish: Callable[[RestoreReport], T],
) -> tuple[RestoreReport, T]:
    """Restore `archive` into the configured installation; `finish` runs after, still holding the data dir."""
    data_dir = settings.resolved_data_dir
    created = not data_dir.exists()
    applying = False
    try:
        with exclusive(data_dir, "restoring a backup into it"):
            staging = data_dir / f".restore-{secrets.token_hex(4)}"
            try:
                staged = stage(archive.expanduser().absolute(), staging, progress)
                warnings = _check_target(settings, staged.manifest, force)
                for warning in warnings:
                    progress(f"warning: {warning}")
                applying = True
                report = _apply(settings, staged, progress)
                report.warnings = warnings
                progress("upgrading the database schema")
                upgrade(settings.resolved_database_url)
                report.revision = head_revision()
                return report, finish(report)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    except DataDirBusy as exc:
        raise BackupError(str(exc)) from None
    finally:
        if created and not applying:
            shutil.rmtree(data_dir, ignore_errors=True)  # made only for the lock: leave no trace


def _check_target(settings: Settings, manifest: Manifest, force: bool) -> list[str]:
    """Refuse what cannot work; return warnings for what works with a caveat."""
    url = settings.resolved_database_url
    kind = backup_database.database_kind(url)
    if manifest.database_kind != kind:
        names = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
        where = {
            "sqlite": "an installation with RONDO_DATABASE_URL unset (SQLite in the data dir)",
            "postgresql": "an installation whose RONDO_DATABASE_URL names a PostgreSQL database",
        }
        raise BackupError(
            f"this backup holds a {names[manifest.database_kind]} database but this installation uses "
            f"{names[kind]} ({backup_database.describe(url)}); restoring across databases is not supported: "
            f"restore it into {where[manifest.database_kind]}; nothing was changed"
        )
    if not is_known_revision(manifest.alembic_revision):
        raise BackupError(
            f"this backup was made by a newer Rondo ({manifest.rondo_version}, database revision "
            f"{manifest.alembic_revision}; this Rondo knows up to {head_revision()}): upgrade Rondo first; "
            "nothing was changed"
        )
    _check_master_key(settings, manifest)
    found = _installation_contents(settings)
    if found and not force:
        raise BackupError(
            f"the installation is not empty ({'; '.join(found)}): restoring would replace it. "
            "Restore into an empty data dir and database, or add --force to replace it; nothing was changed"
        )
    clients = backup_database.other_clients(url)
    if clients and not force:
        raise BackupError(
            f"{len(clients)} other client(s) are connected to {backup_database.describe(url)} ({', '.join(clients)}): "
            "stop every `rondo server` using it first (or add --force if they are not Rondo); nothing was changed"
        )
    return _object_warnings(settings, manifest, force)


def _check_master_key(settings: Settings, manifest: Manifest) -> None:
    if manifest.master_key == "vault" and not settings.vault_url:
        where = manifest.settings.get("vault_url", "its Vault")
        raise BackupError(
            f"the secrets in this backup are wrapped by Vault transit ({where}, key "
            f"{manifest.settings.get('vault_key_name', 'rondo')}): set RONDO_VAULT_URL and RONDO_VAULT_TOKEN "
            "to that Vault before restoring; nothing was changed"
        )
    if manifest.master_key == "keyring" and settings.vault_url:
        raise BackupError(
            "the secrets in this backup are wrapped by its local keyring but this installation uses Vault "
            "(RONDO_VAULT_URL): unset RONDO_VAULT_URL to restore it; nothing was changed"
        )


def _object_warnings(settings: Settings, manifest: Manifest, force: bool) -> list[str]:
    objects = manifest.objects
    warnings = []
    if objects.backend == "s3":
        if not settings.s3_bucket:
            if not force:
                raise BackupError(
                    f"the backed-up installation kept its objects in the S3 bucket {objects.bucket}, which this "
                    "installation does not use: set RONDO_S3_BUCKET (and its endpoint and credentials), or add "
                    "--force to restore without its artifacts, caches and step output; nothing was changed"
                )
            warnings.append(f"objects stay in the S3 bucket {objects.bucket}; this installation will not see them")
        elif settings.s3_bucket != objects.bucket:
            warnings.append(
                f"the backed-up installation used the bucket {objects.bucket}, this one uses {settings.s3_bucket}: "
                "copy the objects over"
            )
    elif objects.included and settings.s3_bucket:
        if not force:
            raise BackupError(
                f"this backup holds {objects.files} local objects but this installation keeps objects in the S3 "
                f"bucket {settings.s3_bucket}: unset RONDO_S3_BUCKET, or add --force to restore without them; "
                "nothing was changed"
            )
        warnings.append(f"the {objects.files} objects in the archive were not restored (this installation uses S3)")
    elif not objects.included:
        warnings.append(
            "the backup was made with --no-objects: copy the old objects folder into "
            f"{settings.resolved_data_dir / OBJECTS_DIR} to keep artifacts, caches and step output"
        )
    configured = settings.secret_key
    if configured and manifest.secrets:
        warnings.append(
            "RONDO_SECRET_KEY is set: it is used instead of the restored server key file; unless it is the "
            "backed-up installation's key, API tokens, sessions and signed links made before the backup stop working"
        )
    return warnings


def _installation_contents(settings: Settings) -> list[str]:
    found = backup_database.contents(settings.resolved_database_url)
    found = [f"the database holds {', '.join(found)}"] if found else []
    data_dir = settings.resolved_data_dir
    files = [rel for rel in SECRET_FILES if (data_dir / rel).exists()]
    if files:
        found.append(f"{data_dir} has {', '.join(files)}")
    objects = data_dir / OBJECTS_DIR
    if objects.is_dir() and any(files for _, _, files in os.walk(objects)):
        found.append(f"{objects} holds objects")
    return found


def _apply(settings: Settings, staged: Staged, progress: Progress) -> RestoreReport:
    url = settings.resolved_database_url
    data_dir = settings.resolved_data_dir
    progress(f"restoring the database into {backup_database.describe(url)}")
    backup_database.restore(url, staged.database)
    progress(f"restoring the key material: {', '.join(staged.secrets)}")
    for rel in SECRET_FILES:
        target = data_dir / rel
        if rel in staged.secrets:
            _put_secret(staged.secrets[rel], target)
        elif rel != f"{KEYS_DIR}/{KEYRING_FILE}" and rel != KEY_FILE:
            target.unlink(missing_ok=True)  # a token of the replaced installation would not sign in any more
    count = None
    if staged.objects is not None and not settings.s3_bucket:
        count = _put_objects(staged.objects, data_dir / OBJECTS_DIR)
        progress(f"restored {count} objects")
    return RestoreReport(
        manifest=staged.manifest,
        database=backup_database.describe(url),
        revision=staged.manifest.alembic_revision,
        secrets=sorted(staged.secrets),
        objects=count,
    )


def _put_secret(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.parent.name == KEYS_DIR:
        os.chmod(target.parent, 0o700)
    tmp = target.with_name(f".{target.name}.restoring")
    shutil.copyfile(source, tmp)
    os.chmod(tmp, 0o600)
    os.replace(tmp, target)


def _put_objects(staged: Path, target: Path) -> int:
    count = sum(len(files) for _, _, files in os.walk(staged))
    old = target.with_name(f".{target.name}.replaced-{secrets.token_hex(4)}")
    if target.exists():
        os.replace(target, old)
    try:
        shutil.move(staged, target)  # a rename: the staging folder is in the data dir
    except BaseException:
        if old.exists() and not target.exists():
            os.replace(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)
    os.chmod(target, 0o700)
    return count
