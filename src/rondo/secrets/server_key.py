"""The server's secret key: signs API-token hashes, sessions and URLs. Generated once per data dir."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

KEY_FILE = "secret-key"


def load_or_create_server_key(data_dir: Path, configured: str = "") -> bytes:
    """Return the configured key, else the one stored in the data dir, creating it (mode 0600) on first use."""
    if configured:
        if len(configured) < 32:
            raise ValueError("RONDO_SECRET_KEY must be at least 32 characters long")
        return configured.encode()
    path = data_dir / KEY_FILE
    if path.exists():
        key = path.read_text().strip()
        if len(key) < 32:
            raise ValueError(f"{path} holds a key shorter than 32 characters; delete it to make a new one")
        return key.encode()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")
    return key.encode()
