"""Database connections: one async engine per process, SQLite (WAL, BEGIN IMMEDIATE, on the event loop's thread,
transactions taking turns; see sqlite_inline) or PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from rondo.store import sqlite_inline


class Database:
    """The engine and session factory. `session()` is one transaction, committed on success."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        kwargs: dict[str, Any] = {"echo": echo}
        # SQLite's transactions take turns on this lock (see sqlite_inline): one at a time per process.
        self._turn: asyncio.Lock | None = None
        self._turn_holder: asyncio.Task[Any] | None = None
        if self.dialect == "sqlite":
            kwargs["connect_args"] = {"timeout": 30}
            parsed = parsed.set(drivername=sqlite_inline.DRIVER)
            self._turn = asyncio.Lock()
        else:
            kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(parsed, **kwargs)
        if self.dialect == "sqlite":
            _configure_sqlite(self.engine)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        if self._turn is None:
            async with self._sessions() as session, session.begin():
                yield session
            return
        async with self._sqlite_turn(), self._sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def _sqlite_turn(self) -> AsyncIterator[None]:
        assert self._turn is not None
        me = asyncio.current_task()
        if me is not None and me is self._turn_holder:
            # It would wait for itself forever; SQLite, too, would refuse it as "database is locked".
            raise RuntimeError("a database session was opened inside another one of the same task")
        async with self._turn:
            self._turn_holder = me
            try:
                yield
            finally:
                self._turn_holder = None

    async def ping(self) -> None:
        async with self.session() as session:
            await session.execute(text("SELECT 1"))

    async def close(self) -> None:
        await self.engine.dispose()


def _configure_sqlite(engine: AsyncEngine) -> None:
    """WAL for concurrent readers; BEGIN IMMEDIATE so read-then-write transactions never deadlock."""
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        # WAL stays set in the file; setting it again needs the database to itself, which another
        # process's open write would refuse ("database is locked") rather than wait for.
        if str(cur.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
