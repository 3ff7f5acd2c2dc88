"""The database side of backups: a consistent snapshot of a live database, and putting one back.

SQLite: sqlite3's online backup API (one read transaction, so writers go on and the copy is whole; a
raw copy of a WAL database can miss what is still in the -wal file). PostgreSQL: `pg_dump --format=custom`,
restored by `pg_restore` piped into `psql --single-transaction` after dropping what the schema holds,
so a failed restore leaves the database as it was.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Literal, TypeVar

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from rondo.ops.backup_format import BackupError
from rondo.store.migrate import sync_url

T = TypeVar("T")
DatabaseKind = Literal["sqlite", "postgresql"]
# Tables whose rows make an installation worth keeping (a schema alone, from `rondo db upgrade`, is empty).
CONTENT_TABLES = ("users", "projects", "pipelines", "contexts")
COPY_CHUNK = 1024 * 1024

# Drops what the current schema holds (tables, views, sequences, routines, types; not extensions' own),
# in the same transaction as the restore that follows.
_CLEAN_SCHEMA = """\
SET client_min_messages = warning;
DO $rondo$
DECLARE r record;
BEGIN
  FOR r IN SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('e', 'a', 'i'))
  LOOP
    EXECUTE format('DROP %s IF EXISTS %I CASCADE',
      CASE r.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE'
                     WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, r.relname);
  END LOOP;
  FOR r IN SELECT p.oid::regprocedure AS sig FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname = current_schema()
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
  LOOP
    EXECUTE format('DROP ROUTINE IF EXISTS %s CASCADE', r.sig);
  END LOOP;
  FOR r IN SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
           WHERE n.nspname = current_schema() AND t.typtype IN ('e', 'd', 'r', 'm')
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = t.oid AND d.deptype = 'e')
  LOOP
    EXECUTE format('DROP TYPE IF EXISTS %I CASCADE', r.typname);
  END LOOP;
END
$rondo$;
"""


def database_kind(url: str) -> DatabaseKind:
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        return "sqlite"
    if backend == "postgresql":
        return "postgresql"
    raise BackupError(f"cannot back up a {backend} database: Rondo runs on SQLite or PostgreSQL")


def sqlite_path(url: str) -> Path:
    name = make_url(url).database
    if not name or name == ":memory:":
        raise BackupError("the SQLite database is in memory: there is nothing to back up or restore into")
    return Path(name)


def describe(url: str) -> str:
    """The database for people: the SQLite file, or the PostgreSQL database without its password."""
    if database_kind(url) == "sqlite":
        return str(sqlite_path(url))
    u = make_url(url)
    return f"PostgreSQL database {u.database} on {u.host or 'localhost'}:{u.port or 5432} as {u.username or '-'}"


# ---- snapshot --------------------------------------------------------------------------------


def snapshot(url: str, target: Path) -> str:
    """Write a consistent copy of the database to `target`; return its Alembic revision."""
    if database_kind(url) == "sqlite":
        return _sqlite_snapshot(sqlite_path(url), target)
    revision = _with_connection(url, _revision)
    if revision is None:
        raise BackupError(f"{describe(url)} has no Rondo schema: nothing to back up")
    _run_pg(["pg_dump", "--format=custom", "--no-password", f"--file={target}", f"--dbname={_conninfo(url)}"], url)
    return revision


def _sqlite_snapshot(path: Path, target: Path) -> str:
    if not path.is_file():
        raise BackupError(f"there is no database at {path}: nothing to back up (is RONDO_DATA_DIR right?)")
    source = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)  # one step: a read transaction on the live database, writers go on
        copy.execute("PRAGMA journal_mode=DELETE")  # a standalone file, without -wal beside it
        row = _sqlite_revision(copy)
    except sqlite3.Error as exc:
        raise BackupError(f"cannot copy the SQLite database {path}: {exc}") from None
    finally:
        copy.close()
        source.close()
    if row is None:
        raise BackupError(f"{path} has no Rondo schema: nothing to back up")
    return row


def _sqlite_revision(conn: sqlite3.Connection) -> str | None:
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:
        return None
    return str(row[0]) if row else None


# ---- what a target holds ---------------------------------------------------------------------


def revision(url: str) -> str | None:
    """The database's Alembic revision; None when it has no Rondo schema (or no file yet)."""
    if database_kind(url) == "postgresql":
        return _with_connection(url, _revision)
    path = sqlite_path(url)
    if not path.is_file():
        return None
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return _sqlite_revision(conn)
    finally:
        conn.close()


def contents(url: str) -> list[str]:
    """What the database holds that a restore would replace, for people ("users: 3", ...); empty if nothing."""
    if database_kind(url) == "sqlite":
        path = sqlite_path(url)
        if not path.exists():
            return []
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        try:
            found = []
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            for table in CONTENT_TABLES:
                if table in tables:
                    count = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
                    if count:
                        found.append(f"{table}: {count}")
            if not found and tables - {"alembic_version"} and "users" not in tables:
                found.append("tables that are not Rondo's")
            return found
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"cannot read the database {path}: {exc}") from None
        finally:
            conn.close()
    return _with_connection(url, _pg_contents)


def _pg_contents(conn: Connection) -> list[str]:
    tables = set(inspect(conn).get_table_names())
    found = []
    for table in CONTENT_TABLES:
        if table in tables:
            count = conn.execute(text(f'SELECT count(*) FROM "{table}"')).scalar_one()
            if count:
                found.append(f"{table}: {count}")
    if not found and tables - {"alembic_version"} and "users" not in tables:
        found.append("tables that are not Rondo's")
    return found


def other_clients(url: str) -> list[str]:
    """Other sessions connected to the PostgreSQL database (a server replica still running, say)."""
    if database_kind(url) == "sqlite":
        return []
    query = text(
        "SELECT coalesce(nullif(application_name, ''), 'a client') || ' from ' || coalesce(client_addr::text, 'local')"
        " || ' as ' || coalesce(usename, '?') FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
    )
    return _with_connection(url, lambda conn: [str(r[0]) for r in conn.execute(query)])


def _revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    value = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return str(value) if value is not None else None


def _with_connection(url: str, use: Callable[[Connection], T]) -> T:
    engine = create_engine(sync_url(url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return use(conn)
    except SQLAlchemyError as exc:
        reason = getattr(exc, "orig", None) or exc
        raise BackupError(f"cannot use the {describe(url)}: {str(reason).strip()}") from None
    finally:
        engine.dispose()


# ---- restore ---------------------------------------------------------------------------------


def restore(url: str, staged: Path) -> None:
    """Replace the database with the staged snapshot (the caller has checked it and the target)."""
    if database_kind(url) == "sqlite":
        _sqlite_restore(sqlite_path(url), staged)
    else:
        _pg_restore(url, staged)


def _sqlite_restore(path: Path, staged: Path) -> None:
    check = sqlite3.connect(f"file:{staged}?mode=ro", uri=True)
    try:
        result = check.execute("PRAGMA quick_check").fetchone()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"the database in the archive does not open: {exc}") from None
    finally:
        check.close()
    if result is None or result[0] != "ok":
        raise BackupError(f"the database in the archive fails SQLite's check: {result}")
    path.parent.mkdir(parents=True, exist_ok=True)
    incoming = path.with_name(path.name + ".restoring")
    shutil.copyfile(staged, incoming)
    os.chmod(incoming, 0o600)
    for suffix in ("-wal", "-shm", "-journal"):  # the old database's logs must not be replayed on the new one
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    os.replace(incoming, path)


def _pg_restore(url: str, staged: Path) -> None:
    env = _pg_env(url)
    listed = subprocess.run(
        [_tool("pg_restore"), "--list", str(staged)], capture_output=True, text=True, env=env, check=False
    )
    if listed.returncode != 0:
        raise BackupError(f"pg_restore cannot read the dump in the archive: {_last_line(listed.stderr)}")
    with tempfile.TemporaryFile() as restore_err, tempfile.TemporaryFile() as psql_err:
        producer = subprocess.Popen(
            [_tool("pg_restore"), "--no-owner", "--no-privileges", "--file=-", str(staged)],
            stdout=subprocess.PIPE, stderr=restore_err, env=env,
        )  # fmt: skip
        consumer = subprocess.Popen(
            [_tool("psql"), "--no-psqlrc", "--quiet", "--no-password", "--single-transaction",
             "--set=ON_ERROR_STOP=1", f"--command={_CLEAN_SCHEMA}", "--file=-", f"--dbname={_conninfo(url)}"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=psql_err, env=env,
        )  # fmt: skip
        assert producer.stdout is not None and consumer.stdin is not None
        broken = _pump(producer.stdout, consumer.stdin)
        if producer.wait() != 0 and not broken:
            # psql commits only at the end of its input: killed before that, the server rolls back.
            consumer.kill()
            consumer.wait()
            raise BackupError(f"pg_restore failed, the database was left as it was: {_last_line(_read(restore_err))}")
        with contextlib.suppress(BrokenPipeError):
            consumer.stdin.close()
        if consumer.wait() != 0 or broken:
            raise BackupError(f"restoring into {describe(url)} failed and was rolled back: {_read(psql_err).strip()}")


def _pump(source: IO[bytes], sink: IO[bytes]) -> bool:
    """Copy until `source` ends; True if `sink` broke (psql stopped on an error)."""
    try:
        while chunk := source.read(COPY_CHUNK):
            sink.write(chunk)
        sink.flush()
    except BrokenPipeError:
        while source.read(COPY_CHUNK):
            pass
        return True
    return False


# ---- PostgreSQL plumbing ---------------------------------------------------------------------


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} is not installed: install the PostgreSQL client tools of your server's major version "
            "(Debian/Ubuntu: apt-get install postgresql-client)"
        )
    return found


def _conninfo(url: str) -> str:
    """libpq connection parameters from the SQLAlchemy URL; the password travels in PGPASSWORD instead."""
    u = make_url(url)
    params: dict[str, str] = {}
    for key, plain in {"host": u.host, "port": u.port, "user": u.username, "dbname": u.database}.items():
        if plain is not None:
            params[key] = str(plain)
    for key, given in u.query.items():
        params[key] = given if isinstance(given, str) else given[-1]
    return " ".join(f"{k}='{_quote(v)}'" for k, v in params.items())


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _pg_env(url: str) -> dict[str, str]:
    env = dict(os.environ)
    password = make_url(url).password
    if password is not None:
        env["PGPASSWORD"] = str(password)
    return env


def _run_pg(argv: list[str], url: str) -> None:
    argv = [_tool(argv[0]), *argv[1:]]
    done = subprocess.run(argv, capture_output=True, text=True, env=_pg_env(url), check=False)
    if done.returncode != 0:
        name = Path(argv[0]).name
        raise BackupError(f"{name} failed on {describe(url)}: {done.stderr.strip() or f'exit {done.returncode}'}")


def _read(fh: IO[bytes]) -> str:
    fh.seek(0)
    return fh.read().decode(errors="replace")


def _last_line(text_: str) -> str:
    lines = [line for line in text_.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no message"
