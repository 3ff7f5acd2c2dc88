"""`rondo backup` and `rondo restore`: the whole installation in one archive, and back."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import typer

from rondo.engine.agents import LostWork
from rondo.ops.backup import backup_event, create_backup, default_output, record_system_event
from rondo.ops.backup_database import revision
from rondo.ops.backup_format import BackupError, human_size
from rondo.ops.restore import RestoreReport, restore_backup
from rondo.server.app import build_services
from rondo.settings import Settings
from rondo.store.migrate import head_revision


def _progress(message: str) -> None:
    typer.echo(f"rondo: {message}", err=True)


def backup(settings: Settings, output: Path | None, include_objects: bool) -> None:
    target = output or default_output()
    if target.is_dir():
        target = target / default_output()
    try:
        report = create_backup(settings, target, include_objects=include_objects, progress=_progress)
    except (BackupError, OSError) as exc:
        reason = str(exc) if isinstance(exc, BackupError) else _os_error(exc)
        _record_failure(settings, "system.backup", {"file": str(target), "error": reason})
        raise SystemExit(f"rondo: backup failed: {reason}") from None
    m = report.manifest
    if m.alembic_revision == head_revision():
        asyncio.run(record_system_event(settings.resolved_database_url, "system.backup", backup_event(report)))
    else:
        _progress(f"no audit event: the database schema ({m.alembic_revision}) is older than this Rondo's")
    objects = m.objects
    if objects.included:
        held = f"{objects.files} objects ({human_size(objects.bytes)})"
    elif objects.backend == "s3":
        held = f"no objects (they live in the S3 bucket {objects.bucket})"
    else:
        held = "no objects (--no-objects)"
    typer.echo(f"backup written to {report.path} ({human_size(report.bytes)}, mode 0600)")
    typer.echo(f"  sha256    {report.sha256}")
    typer.echo(f"  database  {m.database_kind}, schema revision {m.alembic_revision}, taken at {m.created_at}")
    typer.echo(f"  keys      {', '.join(s.restore_to for s in m.secrets)}")
    typer.echo(f"  objects   {held}")


def restore(settings: Settings, archive: Path, force: bool) -> None:
    try:
        report, lost = restore_backup(
            settings, archive, force=force, progress=_progress, finish=lambda r: asyncio.run(_finish(settings, r))
        )
    except BackupError as exc:
        raise SystemExit(f"rondo: restore refused: {exc}") from None
    except OSError as exc:
        raise SystemExit(f"rondo: restore failed: {_os_error(exc)}") from None
    m = report.manifest
    typer.echo(f"restored {archive} into {report.database} and {settings.resolved_data_dir}")
    typer.echo(f"  backup    taken at {m.created_at} on {m.host} by Rondo {m.rondo_version}")
    typer.echo(f"  schema    {m.alembic_revision} -> {report.revision}")
    typer.echo(f"  keys      {', '.join(report.secrets)}")
    typer.echo(f"  objects   {report.objects if report.objects is not None else 'none in the archive'}")
    typer.echo(
        f"  work that was running at backup time: {len(lost.failed)} task(s) marked infrastructure_fail, "
        f"{len(lost.requeued)} requeued"
    )
    for warning in report.warnings:
        typer.echo(f"  warning: {warning}")
    typer.echo("start the server with `rondo server` (agents register again by themselves)")


async def _finish(settings: Settings, report: RestoreReport) -> LostWork:
    services = build_services(settings)
    try:
        lost = await services.agents.recover_after_restore(report.manifest.created_at)
    except Exception as exc:  # restored all the same: the server's lost-agent sweep does this after it starts
        _progress(
            f"warning: could not end the work that was running at backup time ({exc}); the server will, "
            f"{settings.agent_lost_after_s:.0f}s after it starts"
        )
        lost = LostWork()
    finally:
        await services.db.close()
    m = report.manifest
    payload: dict[str, Any] = {
        "backup": {"created_at": m.created_at, "host": m.host, "rondo_version": m.rondo_version},
        "database": m.database_kind,
        "from_revision": m.alembic_revision,
        "to_revision": report.revision,
        "objects": report.objects,
        "tasks_failed": len(lost.failed),
        "tasks_requeued": len(lost.requeued),
    }
    await record_system_event(settings.resolved_database_url, "system.restore", payload)
    return lost


def _os_error(exc: OSError) -> str:
    where = f" ({exc.filename})" if exc.filename else ""
    return f"{exc.strerror or exc}{where}"


def _record_failure(settings: Settings, action: str, payload: dict[str, Any]) -> None:
    """A failed backup is worth an audit event too, when the database can take one."""
    try:
        if revision(settings.resolved_database_url) == head_revision():
            asyncio.run(record_system_event(settings.resolved_database_url, action, payload, success=False))
    except Exception:  # the database may be what failed: the error above is what matters
        return
