"""Database snapshots and restores on the real databases: SQLite's online backup of a WAL database being
written to, and PostgreSQL's pg_dump / pg_restore, whose restore either replaces everything or nothing.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from rondo.ops import backup_database
from rondo.ops.backup_format import BackupError
from rondo.store import users as user_q
from rondo.store.db import Database
from rondo.store.migrate import head_revision, sync_url, upgrade


async def add_user(url: str, login: str) -> None:
    db = Database(url)
    try:
        async with db.session() as session:
            await user_q.create_user(session, login, login.title(), is_admin=False)
    finally:
        await db.close()


def logins(url: str) -> list[str]:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            return sorted(str(r[0]) for r in conn.execute(text("SELECT login FROM users")))
    finally:
        engine.dispose()


def test_a_sqlite_snapshot_of_a_database_being_written_is_whole_and_consistent(tmp_path: Path) -> None:
    path = tmp_path / "rondo.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("CREATE TABLE ticks (batch INTEGER, half INTEGER)")
    stop = threading.Event()

    def write() -> None:
        batch = 0
        while not stop.is_set():  # every transaction adds two rows: a torn copy would show an odd count
            writer.execute("BEGIN IMMEDIATE")
            writer.execute("INSERT INTO ticks VALUES (?, 0)", (batch,))
            writer.execute("INSERT INTO ticks VALUES (?, 1)", (batch,))
            writer.execute("COMMIT")
            batch += 1

    thread = threading.Thread(target=write)
    thread.start()
    try:
        time.sleep(0.3)
        copies = []
        for n in range(3):
            copy = tmp_path / f"copy-{n}.sqlite3"
            assert backup_database.snapshot(f"sqlite+aiosqlite:///{path}", copy) == head_revision()
            copies.append(copy)
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join()
        writer.close()
    counts = []
    for copy in copies:
        assert not Path(f"{copy}-wal").exists()  # a standalone file
        conn = sqlite3.connect(copy)
        try:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
            count, batches = conn.execute("SELECT count(*), count(DISTINCT batch) FROM ticks").fetchone()
        finally:
            conn.close()
        assert count == 2 * batches
        counts.append(count)
    assert counts[0] > 0 and counts == sorted(counts)


def test_a_sqlite_file_that_is_not_there_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match=r"there is no database at .*missing\.db.*RONDO_DATA_DIR"):
        backup_database.snapshot(f"sqlite+aiosqlite:///{tmp_path / 'missing.db'}", tmp_path / "copy")


def sql(url: str, *statements: str) -> list[object]:
    engine = create_engine(sync_url(url))
    try:
        with engine.begin() as conn:
            results = [conn.execute(text(s)) for s in statements]
            return [r.scalar() if r.returns_rows else None for r in results]
    finally:
        engine.dispose()


async def test_a_postgres_restore_replaces_everything_or_nothing(postgres_url: str, tmp_path: Path) -> None:
    upgrade(postgres_url)
    await add_user(postgres_url, "kept")
    sql(
        postgres_url,
        "INSERT INTO users (id, login, name, is_admin, suspended, created_at) SELECT gen_random_uuid(), "
        "'bulk-' || g, repeat('n', 50) || g, false, false, now() FROM generate_series(1, 3000) g",
    )
    dump = tmp_path / "rondo.pgdump"
    assert backup_database.snapshot(postgres_url, dump) == head_revision()
    await add_user(postgres_url, "later")  # the installation moves on after the backup

    # A dump damaged in its data: pg_restore fails half-way, after psql has run part of the script.
    data = bytearray(dump.read_bytes())
    for i in range(len(data) // 2, len(data) // 2 + 40):
        data[i] ^= 0xFF
    damaged = tmp_path / "damaged.pgdump"
    damaged.write_bytes(bytes(data))
    with pytest.raises(BackupError, match="pg_restore failed, the database was left as it was"):
        backup_database.restore(postgres_url, damaged)
    assert "later" in logins(postgres_url) and len(logins(postgres_url)) == 3002

    # A dump psql cannot apply here (its schema `extra` exists already): rolled back, nothing changed.
    sql(postgres_url, "CREATE SCHEMA extra", "CREATE TABLE extra.notes (body text)")
    clashing = tmp_path / "clashing.pgdump"
    backup_database.snapshot(postgres_url, clashing)
    with pytest.raises(BackupError, match=r"failed and was rolled back: .*already exists"):
        backup_database.restore(postgres_url, clashing)
    assert len(logins(postgres_url)) == 3002
    sql(postgres_url, "DROP SCHEMA extra CASCADE")

    # The whole dump replaces what is there, objects a newer Rondo would have made included.
    sql(
        postgres_url,
        "CREATE TABLE from_a_newer_rondo (user_id uuid REFERENCES users (id))",
        "CREATE FUNCTION helper_of_a_newer_rondo() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    )
    backup_database.restore(postgres_url, dump)
    assert "later" not in logins(postgres_url) and len(logins(postgres_url)) == 3001
    assert backup_database.revision(postgres_url) == head_revision()
    assert sql(
        postgres_url,
        "SELECT count(*) FROM pg_proc WHERE proname = 'helper_of_a_newer_rondo'",
        "SELECT count(*) FROM pg_tables WHERE tablename = 'from_a_newer_rondo'",
        "SELECT count(*) FROM pg_trigger WHERE tgname = 'audit_events_append_only'",  # append-only again
    ) == [0, 0, 1]


async def test_what_a_target_holds_is_named(database_url: str) -> None:
    upgrade(database_url)
    assert backup_database.contents(database_url) == []  # a schema alone is an empty installation
    await add_user(database_url, "someone")
    assert backup_database.contents(database_url) == ["users: 1"]
