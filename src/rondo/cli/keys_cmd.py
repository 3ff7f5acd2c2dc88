"""`rondo keys`: the master keys that wrap every secret's data key (local keyring or Vault transit)."""

from __future__ import annotations

import asyncio

import typer

from rondo.engine.key_rotation import rotate_keys
from rondo.server.app import build_secret_box
from rondo.settings import Settings
from rondo.store.db import Database
from rondo.store.migrate import upgrade


def rotate(settings: Settings) -> None:
    upgrade(settings.resolved_database_url)

    async def run() -> None:
        db = Database(settings.resolved_database_url)
        try:
            report = await rotate_keys(db, build_secret_box(settings))
        finally:
            await db.close()
        typer.echo(f"new master key: {report.new_key}")
        for table, count in report.rewrapped.items():
            typer.echo(f"re-wrapped {count} data key(s) in {table}")
        if report.dropped_keys:
            typer.echo(f"dropped old master key(s): {', '.join(report.dropped_keys)}")

    asyncio.run(run())


def list_keys(settings: Settings) -> None:
    wrapper = build_secret_box(settings).wrapper
    ids: list[str] | None = getattr(wrapper, "key_ids", None)
    if ids is None:
        typer.echo(f"Vault transit key {settings.vault_key_name} at {settings.vault_url}")
        return
    current = getattr(wrapper, "current_id", "")
    for kid in ids:
        typer.echo(f"{kid}{'  (current)' if kid == current else ''}")
