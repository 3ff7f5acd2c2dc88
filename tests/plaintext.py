"""Looking for a secret in clear: every row of every table, and every file under a folder (zstd opened); the
parts of a private key to look for."""

from __future__ import annotations

import contextlib
from pathlib import Path

from backports import zstd
from sqlalchemy import MetaData, create_engine, select

from rondo.domain.ssh_keys import secret_fragments
from rondo.secrets.ssh_keys import read_private_key
from rondo.store.migrate import sync_url


def private_key_parts(private_key: str) -> list[str]:
    """A private key's text and the lines of it that a job's output masks, less any line that is only
    public data (a line of an RSA key's modulus can match its public key's base64): what must never be
    found in clear."""
    public = read_private_key(private_key).public_key.split()[1]
    return [part for part in secret_fragments(private_key) if part not in public]


def database_text(database_url: str) -> str:
    """Every value of every row of every table, as text."""
    engine = create_engine(sync_url(database_url))
    try:
        meta = MetaData()
        meta.reflect(engine)
        parts = []
        with engine.connect() as conn:
            for table in meta.sorted_tables:
                for row in conn.execute(select(table)):
                    parts.append(repr(tuple(row)))
        return "\n".join(parts)
    finally:
        engine.dispose()


def files_bytes(root: Path) -> dict[Path, bytes]:
    """Each file's bytes, and for zstd files (step output objects) their decompressed bytes as well."""
    found: dict[Path, bytes] = {}
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        if data[:4] == b"\x28\xb5\x2f\xfd":
            with contextlib.suppress(zstd.ZstdError):
                data += b"\n" + zstd.decompress(data)
        found[path] = data
    return found


def places_holding(value: str, root: Path) -> list[Path]:
    needle = value.encode()
    return [p for p, data in files_bytes(root).items() if needle in data]
