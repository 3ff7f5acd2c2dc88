"""What a `rondo backup` archive holds: its member names, its manifest, and the one error type of backups.

The archive is a tar compressed with zstd. Members, in this order: the database snapshot, the secret
files of the data dir, the local objects, and `manifest.json` last (it carries every part's checksum,
known only once the parts are written). docs/backup-and-restore.md describes the format for operators.
"""

from __future__ import annotations

import hashlib
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from rondo.secrets.keyring import KEYRING_FILE, KEYS_DIR
from rondo.secrets.server_key import KEY_FILE
from rondo.secrets.tokens import ADMIN_TOKEN_FILE, BUILTIN_AGENT_TOKEN_FILE

FORMAT = "rondo-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SQLITE_MEMBER = "database/rondo.sqlite3"
POSTGRES_MEMBER = "database/rondo.pgdump"
SECRETS_PREFIX = "secrets/"
OBJECTS_PREFIX = "objects/"

# Files of the data dir without which the restored installation cannot read its own data or sign in:
# the master keys of the secrets, the server key (token digests, sessions, signed URLs) and the tokens
# the server wrote for its admin and its built-in agent. Paths relative to the data dir.
SECRET_FILES = (f"{KEYS_DIR}/{KEYRING_FILE}", KEY_FILE, ADMIN_TOKEN_FILE, BUILTIN_AGENT_TOKEN_FILE)

# Left out on purpose, and said so in the manifest.
NOT_INCLUDED = [
    "git-mirrors/: bare clones of followed repositories, fetched again from their URLs",
    "agent/: the built-in agent's work directory; jobs running at backup time do not resume",
    "settings: RONDO_* environment variables (the manifest lists the non-secret ones for reference)",
    "the Vault token and S3 credentials, when those are used",
]


class BackupError(Exception):
    """A backup that cannot be made or restored; the message says why and what to do."""


class FilePart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="member name in the archive")
    bytes: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class SecretPart(FilePart):
    restore_to: str = Field(description="path relative to the data dir")
    source: Literal["data_dir", "RONDO_SECRET_KEY"] = "data_dir"


class DatabasePart(FilePart):
    kind: Literal["sqlite", "postgresql"]
    dump_format: Literal["sqlite3", "pg_dump-custom"]


class ObjectsPart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: Literal["local", "s3"]
    included: bool
    files: int = Field(0, ge=0)
    bytes: int = Field(0, ge=0)
    sha256: str = Field("", description="sha256 of the `sha256sum` listing of every object, sorted by key")
    bucket: str = ""
    note: str = ""


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["rondo-backup"]
    format_version: int = Field(ge=1)
    rondo_version: str
    alembic_revision: str
    database_kind: Literal["sqlite", "postgresql"]
    created_at: str = Field(description="UTC, ISO-8601, when the database snapshot was taken")
    host: str
    master_key: Literal["keyring", "vault"]
    database: DatabasePart
    secrets: list[SecretPart]
    objects: ObjectsPart
    settings: dict[str, str] = Field(description="the non-secret settings of the backed-up installation")
    not_included: list[str]


def listing_digest(entries: dict[str, str]) -> str:
    """sha256 of `<sha256>  <key>\\n` lines sorted by key: what `sha256sum` prints for the object files."""
    digest = hashlib.sha256()
    for key in sorted(entries):
        digest.update(f"{entries[key]}  {key}\n".encode())
    return digest.hexdigest()


def human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            break
    return f"{value:.1f} {unit}"
