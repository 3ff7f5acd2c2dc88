"""Objects in a local folder (the embedded default), with HMAC-signed URLs the server itself serves."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

from rondo.objects.store import ObjectNotFound, SignatureError, check_key

CHUNK = 1024 * 1024


def sign(signing_key: bytes, method: str, key: str, expires: int) -> str:
    return hmac.new(signing_key, f"{method}\n{key}\n{expires}".encode(), hashlib.sha256).hexdigest()


def verify_signature(
    signing_key: bytes, method: str, key: str, expires: str, signature: str, now: float | None = None
) -> None:
    if not expires.isdigit() or not signature:
        raise SignatureError("the URL is not signed")
    if int(expires) < (time.time() if now is None else now):
        raise SignatureError("the URL has expired")
    if not hmac.compare_digest(sign(signing_key, method, key, int(expires)), signature):
        raise SignatureError("the URL's signature does not match (wrong key, object or method)")


class LocalObjectStore:
    def __init__(self, root: Path, signing_key: bytes, base_url: str) -> None:
        self.root = root
        self._key = signing_key
        self._base_url = base_url.rstrip("/")

    def path_for(self, key: str) -> Path:
        return self.root / check_key(key)

    def verify(self, method: str, key: str, expires: str, signature: str) -> None:
        check_key(key)
        verify_signature(self._key, method, key, expires, signature)

    def _write(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        await asyncio.to_thread(self._write, self.path_for(key), data)

    async def get(self, key: str) -> bytes:
        path = self.path_for(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            raise ObjectNotFound(f"object {key} not found") from None

    async def open_stream(self, key: str) -> AsyncIterator[bytes]:
        path = self.path_for(key)
        try:
            fh = await asyncio.to_thread(path.open, "rb")
        except FileNotFoundError:
            raise ObjectNotFound(f"object {key} not found") from None
        try:
            while chunk := await asyncio.to_thread(fh.read, CHUNK):
                yield chunk
        finally:
            fh.close()

    async def exists(self, key: str) -> bool:
        return self.path_for(key).is_file()

    async def size(self, key: str) -> int:
        try:
            return self.path_for(key).stat().st_size
        except FileNotFoundError:
            raise ObjectNotFound(f"object {key} not found") from None

    async def delete(self, key: str) -> None:
        self.path_for(key).unlink(missing_ok=True)

    async def list(self, prefix: str) -> list[str]:
        def walk() -> list[str]:
            if not self.root.is_dir():
                return []
            keys = []
            for dirpath, _, files in os.walk(self.root):
                for name in files:
                    if name.startswith(".tmp-"):
                        continue
                    key = Path(dirpath, name).relative_to(self.root).as_posix()
                    if key.startswith(prefix):
                        keys.append(key)
            return sorted(keys)

        return await asyncio.to_thread(walk)

    def _presign(self, method: str, key: str, expires_s: int) -> str:
        check_key(key)
        expires = int(time.time()) + expires_s
        signature = sign(self._key, method, key, expires)
        return f"{self._base_url}/objects/{quote(key)}?expires={expires}&signature={signature}"

    def presign_get(self, key: str, expires_s: int) -> str:
        return self._presign("GET", key, expires_s)

    def presign_put(self, key: str, expires_s: int) -> str:
        return self._presign("PUT", key, expires_s)
