"""The local keyring: Rondo's master keys (AES-256) in `$RONDO_DATA_DIR/keys/keyring.json`, mode 0600.

Generated at first start. `rondo keys rotate` adds a new current key; older keys keep unwrapping until
every data key has been re-wrapped, then they are dropped. A server re-reads the file when it changes,
so a rotation run beside a live server needs no restart.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from rondo.secrets.envelope import NONCE_BYTES, SecretsError

KEYS_DIR = "keys"
KEYRING_FILE = "keyring.json"
PREFIX = "local"


@dataclass(frozen=True)
class MasterKey:
    id: str
    key: bytes
    created_at: str


def _new_key() -> MasterKey:
    now = datetime.now(UTC)
    return MasterKey(
        id=f"{now:%Y%m%d%H%M%S}-{secrets.token_hex(3)}",
        key=os.urandom(32),
        created_at=now.isoformat(timespec="seconds").replace("+00:00", "Z"),
    )


class LocalKeyring:
    """A `KeyWrapper` whose master keys are in a file; wrapped keys read `local:<key id>:<base64>`."""

    blocking = False

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._mtime_ns = -1
        self._keys: dict[str, MasterKey] = {}
        self._current = ""
        if not path.exists():
            self._write([_new_key()], None, exclusive=True)
        self._load()

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> LocalKeyring:
        return cls(data_dir / KEYS_DIR / KEYRING_FILE)

    @property
    def current_id(self) -> str:
        self._reload_if_changed()
        return self._current

    @property
    def key_ids(self) -> list[str]:
        self._reload_if_changed()
        return list(self._keys)

    # ---- the file ---------------------------------------------------------------------------

    def _load(self) -> None:
        try:
            stat = self.path.stat()
            data = json.loads(self.path.read_text())
            keys = {
                k["id"]: MasterKey(k["id"], base64.b64decode(k["key"]), k.get("created_at", "")) for k in data["keys"]
            }
            current = str(data["current"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SecretsError(f"cannot read the keyring {self.path}: {exc}") from None
        if current not in keys or any(len(k.key) != 32 for k in keys.values()):
            raise SecretsError(f"the keyring {self.path} is damaged: no current 256-bit key")
        self._keys, self._current, self._mtime_ns = keys, current, stat.st_mtime_ns

    def _reload_if_changed(self) -> None:
        try:
            mtime = self.path.stat().st_mtime_ns
        except OSError:
            return
        if mtime != self._mtime_ns:
            with self._lock:
                self._load()

    def _write(self, keys: list[MasterKey], current: str | None, *, exclusive: bool = False) -> None:
        """Replace the file atomically; `exclusive`: only create it (two first starts keep one keyring)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(self.path.parent, 0o700)
        body = {
            "version": 1,
            "current": current or keys[-1].id,
            "keys": [{"id": k.id, "key": base64.b64encode(k.key).decode(), "created_at": k.created_at} for k in keys],
        }
        tmp = self.path.with_name(self.path.name + f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(body, fh, indent=2)
            fh.write("\n")
        if exclusive:
            try:
                os.link(tmp, self.path)
            except FileExistsError:
                pass
            finally:
                os.unlink(tmp)
        else:
            os.replace(tmp, self.path)

    # ---- KeyWrapper -------------------------------------------------------------------------

    def wrap(self, dek: bytes) -> str:
        self._reload_if_changed()
        kid = self._current
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self._keys[kid].key).encrypt(nonce, dek, f"rondo-dek:{kid}".encode())
        return f"{PREFIX}:{kid}:{base64.b64encode(nonce + sealed).decode()}"

    def unwrap(self, wrapped: str) -> bytes:
        prefix, _, rest = wrapped.partition(":")
        kid, _, body = rest.partition(":")
        if prefix != PREFIX or not kid or not body:
            raise SecretsError(f"the data key was not wrapped by the local keyring ({prefix or 'unknown'} key)")
        self._reload_if_changed()  # a key dropped by a rotation elsewhere leaves this process too
        key = self._keys.get(kid)
        if key is None:
            raise SecretsError(f"master key {kid} is not in the keyring {self.path}")
        raw = base64.b64decode(body)
        try:
            return AESGCM(key.key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], f"rondo-dek:{kid}".encode())
        except InvalidTag:
            raise SecretsError(f"a data key wrapped by master key {kid} does not open") from None

    def rewrap(self, wrapped: str) -> str:
        return self.wrap(self.unwrap(wrapped))

    def is_current(self, wrapped: str) -> bool:
        return wrapped.startswith(f"{PREFIX}:{self.current_id}:")

    def rotate(self) -> str:
        with self._lock:
            self._load()
            new = _new_key()
            self._write([*self._keys.values(), new], new.id)
            self._load()
        return new.id

    def forget_old_keys(self) -> list[str]:
        with self._lock:
            self._load()
            old = [k for k in self._keys if k != self._current]
            if old:
                self._write([self._keys[self._current]], self._current)
                self._load()
        return old
