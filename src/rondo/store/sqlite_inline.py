"""SQLite for the async engine, run on the event loop's own thread.

A statement on a local SQLite file takes microseconds; handing each one to a driver thread and back
(aiosqlite: four or five hand-offs per statement) took longer than the statements themselves, about
a hundred hand-offs per pipeline dispatched. Here the sqlite3 module is called directly: SQLAlchemy's
async engine runs its sync core in a greenlet, and a driver that never awaits simply returns.

What makes this safe is `Database`: SQLite lets one transaction write at a time, and every Rondo
transaction begins IMMEDIATE (it may write), so the process queues its transactions on an asyncio
lock instead of letting SQLite's busy handler sleep (1, 2, 5 … 100 ms) while another coroutine of the
same loop holds the lock. Only another process (a `rondo` command beside the server) can then hold
the database; the loop waits for it as aiosqlite's thread did, up to the busy timeout.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import pool
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import URL

DRIVER = "sqlite+rondo"


class _Cursor(sqlite3.Cursor):
    async def _async_soft_close(self) -> None:
        """What SQLAlchemy's async results call to let go of a driver cursor; a sqlite3 one needs nothing."""


class _Connection(sqlite3.Connection):
    def cursor(self, factory: Any = _Cursor) -> Any:
        return super().cursor(factory)


class SQLiteDialect_rondo(SQLiteDialect_pysqlite):
    driver = "rondo"
    is_async = True  # usable by create_async_engine: its calls never suspend
    has_terminate = False
    supports_statement_cache = True

    @classmethod
    def get_pool_class(cls, url: URL) -> type[pool.Pool]:
        return pool.AsyncAdaptedQueuePool if cls._is_url_file_db(url) else pool.StaticPool

    def create_connect_args(self, url: URL) -> Any:
        args, kwargs = super().create_connect_args(url)
        # Connections are made on the loop's thread but the pool may be disposed of from another.
        kwargs["check_same_thread"] = False
        kwargs["factory"] = _Connection
        return args, kwargs


registry.register("sqlite.rondo", __name__, "SQLiteDialect_rondo")
