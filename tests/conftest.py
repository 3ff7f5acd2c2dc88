"""Shared fixtures: real databases (SQLite file and a fresh PostgreSQL database per test), real git repos."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from rondo.store.db import Database
from rondo.store.migrate import upgrade

pytest_plugins = ["tests.s3_server", "tests.sshd"]  # s3_endpoint, s3_settings (S3 on loopback); sshd

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
PG_ADMIN_URL = os.environ.get("RONDO_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _pg_admin_engine():  # type: ignore[no-untyped-def]
    return create_engine(make_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")


def _create_database(template: str | None = None) -> str:
    """A new PostgreSQL database on the machine's server (a copy of `template` when given); its URL."""
    name = f"rondo_test_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin_engine()
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
    finally:
        admin.dispose()
    return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def _drop_database(url: str) -> None:
    admin = _pg_admin_engine()
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A new, empty PostgreSQL database on the machine's server, dropped afterwards."""
    url = _create_database()
    try:
        yield url
    finally:
        _drop_database(url)


# Migrating from nothing takes about a second a database; the Alembic history is checked from nothing in
# tests/store/test_migrations.py. Other tests start from a copy of a database migrated once per session.


@pytest.fixture(scope="session")
def _migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("migrated") / "rondo.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def _migrated_postgres() -> Iterator[str]:
    """The name of a PostgreSQL database migrated to head, for CREATE DATABASE … TEMPLATE."""
    url = _create_database()
    try:
        upgrade(url)
        yield str(make_url(url).database)
    finally:
        _drop_database(url)


@pytest.fixture(params=["sqlite", "postgres"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using this runs twice: on a new SQLite file and on a new, empty PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'rondo.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test using this runs twice: on a SQLite file and on a PostgreSQL database of its own, both with
    the schema at the newest revision and no rows (as `rondo db upgrade` leaves them)."""
    if request.param == "sqlite":
        path = tmp_path / "rondo.db"
        template = request.getfixturevalue("_migrated_sqlite")
        with closing(sqlite3.connect(template)) as src, closing(sqlite3.connect(path)) as dst:
            src.backup(dst)
        yield f"sqlite+aiosqlite:///{path}"
        return
    url = _create_database(template=request.getfixturevalue("_migrated_postgres"))
    try:
        yield url
    finally:
        _drop_database(url)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    try:
        yield database
    finally:
        await database.close()


def git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Rondo Test",
        "GIT_AUTHOR_EMAIL": "test@rondo.invalid",
        "GIT_COMMITTER_NAME": "Rondo Test",
        "GIT_COMMITTER_EMAIL": "test@rondo.invalid",
    }
    out = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, env=env, check=True)
    return out.stdout.strip()


def make_repo(path: Path, files: dict[str, str], branch: str = "main") -> Path:
    """A real git repository with one commit of `files` on `branch`."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", branch)
    commit_files(path, files, "initial commit")
    return path


def commit_files(repo: Path, files: dict[str, str], message: str) -> str:
    for name, content in files.items():
        target = repo / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")
