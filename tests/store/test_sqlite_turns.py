"""SQLite runs on the event loop's thread; the process's transactions take turns instead of SQLite's busy sleeps."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from rondo.store import projects as project_q
from rondo.store.db import Database
from rondo.store.migrate import upgrade
from rondo.store.models import Organization


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> Database:
    url = f"sqlite+aiosqlite:///{tmp_path / 'rondo.db'}"
    upgrade(url)
    db = Database(url)
    yield db
    await db.close()


async def test_concurrent_writers_in_one_process_take_turns(sqlite_db: Database) -> None:
    async with sqlite_db.session() as s:
        s.add(Organization(slug="gh/acme", name="acme", vcs="gh"))

    order: list[str] = []

    async def writer(name: str) -> None:
        async with sqlite_db.session() as s:
            order.append(f"{name} in")
            await s.execute(text("UPDATE organizations SET name = :n"), {"n": name})
            await asyncio.sleep(0.02)  # holds its transaction across an await: the others wait their turn
            order.append(f"{name} out")

    await asyncio.gather(*(writer(f"w{i}") for i in range(20)))
    # One at a time, each whole: never two transactions open at once.
    assert all(order[i].endswith("in") and order[i + 1].endswith("out") for i in range(0, 40, 2))
    assert [o.split()[0] for o in order[::2]] == [o.split()[0] for o in order[1::2]]
    async with sqlite_db.session() as s:
        org = await project_q.ensure_organization(s, "gh", "gh/acme", "x")
        assert org.name == order[-1].split()[0]


async def test_a_session_inside_a_session_of_the_same_task_is_refused(sqlite_db: Database) -> None:
    async with sqlite_db.session():
        with pytest.raises(RuntimeError, match="inside another one"):
            async with sqlite_db.session():
                pass
    async with sqlite_db.session() as s:  # the turn was given back
        assert (await s.execute(text("SELECT 1"))).scalar() == 1


async def test_a_failed_transaction_rolls_back_and_passes_the_turn(sqlite_db: Database) -> None:
    with pytest.raises(ValueError):
        async with sqlite_db.session() as s:
            s.add(Organization(slug="gh/gone", name="gone", vcs="gh"))
            await s.flush()
            raise ValueError("boom")
    async with sqlite_db.session() as s:
        count = (await s.execute(text("SELECT count(*) FROM organizations WHERE slug = 'gh/gone'"))).scalar()
    assert count == 0


async def test_another_process_holding_the_database_is_waited_for(sqlite_db: Database, tmp_path: Path) -> None:
    # A `rondo` command beside the server writes: the server's next transaction waits for it, then goes on.
    await sqlite_db.ping()  # the server has started (the file is in WAL mode)
    other = sqlite3.connect(tmp_path / "rondo.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute(
        "INSERT INTO organizations (id, slug, name, vcs, created_at) VALUES (?, 'gh/other', 'other', 'gh', ?)",
        ("00000000000000000000000000000001", "2026-01-01 00:00:00.000000"),
    )
    releaser = threading.Timer(0.3, lambda: other.execute("COMMIT"))
    releaser.start()
    try:
        start = time.monotonic()
        async with sqlite_db.session() as s:
            names = (await s.execute(text("SELECT slug FROM organizations"))).scalars().all()
        assert "gh/other" in names
        assert time.monotonic() - start >= 0.25
    finally:
        releaser.join()
        other.close()
