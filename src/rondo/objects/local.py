"""Objects in a local folder (the embedded default), with HMAC-signed URLs the server itself serves.

A signed URL names one object, one method and an expiry; its options (the type a download is served
as, the exact size an upload must have) are part of what is signed, so none can be changed.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import tempfile
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from urllib.parse import quote, urlencode

from rondo.objects.store import ObjectNotFound, ObjectTooLarge, PresignedRequest, SignatureError, check_key

CHUNK = 1024 * 1024
SIGNED_OPTIONS = ("type", "disposition", "size")


def canonical_options(options: Mapping[str, str]) -> str:
    """The signed form of a URL's options: only the known ones, sorted, URL-encoded."""
    return urlencode(sorted((k, v) for k, v in options.items() if k in SIGNED_OPTIONS and v))


def sign(signing_key: bytes, method: str, key: str, expires: int, options: str = "") -> str:
    message = f"{method}\n{key}\n{expires}" + (f"\n{options}" if options else "")
    return hmac.new(signing_key, message.encode(), hashlib.sha256).hexdigest()


def verify_signature(
    signing_key: bytes,
    method: str,
    key: str,
    expires: str,
    signature: str,
    now: float | None = None,
    options: str = "",
) -> None:
    if not expires.isdigit() or not signature:
        raise SignatureError("the URL is not signed")
    if int(expires) < (time.time() if now is None else now):
        raise SignatureError("the URL has expired")
    if not hmac.compare_digest(sign(signing_key, method, key, int(expires), options), signature):
        raise SignatureError("the URL's signature does not match (wrong key, object or method)")


def _publish(tmp: str, path: Path) -> None:
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


class LocalObjectStore:
    def __init__(self, root: Path, signing_key: bytes, base_url: str) -> None:
        self.root = root
        self._key = signing_key
        self._base_url = base_url.rstrip("/")

    def path_for(self, key: str) -> Path:
        return self.root / check_key(key)

    def verify(
        self, method: str, key: str, expires: str, signature: str, options: Mapping[str, str] | None = None
    ) -> None:
        check_key(key)
        verify_signature(self._key, method, key, expires, signature, options=canonical_options(options or {}))

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

    async def put_stream(self, key: str, chunks: AsyncIterator[bytes], size: int | None, max_size: int) -> int:
        """Write an upload as it arrives; it replaces the object only once complete and of the signed size."""
        path = self.path_for(key)
        limit = max_size if size is None else min(size, max_size)

        def open_tmp() -> tuple[int, str]:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            return tempfile.mkstemp(dir=path.parent, prefix=".tmp-")

        fd, tmp = await asyncio.to_thread(open_tmp)
        written = 0
        try:
            with os.fdopen(fd, "wb") as fh:
                buffer = bytearray()
                async for chunk in chunks:
                    written += len(chunk)
                    if written > limit:
                        raise ObjectTooLarge(f"the upload is larger than the {limit} bytes it was signed for")
                    buffer += chunk
                    if len(buffer) >= CHUNK:
                        await asyncio.to_thread(fh.write, bytes(buffer))
                        buffer.clear()
                if buffer:
                    await asyncio.to_thread(fh.write, bytes(buffer))
            if size is not None and written != size:
                raise ObjectTooLarge(f"the upload has {written} bytes, not the {size} it was signed for")
            await asyncio.to_thread(_publish, tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)  # noqa: ASYNC240 (a quick unlink, also on cancel)
            raise
        return written

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

    def _presign(self, method: str, key: str, expires_s: int, options: dict[str, str]) -> str:
        check_key(key)
        expires = int(time.time()) + expires_s
        signed = canonical_options(options)
        signature = sign(self._key, method, key, expires, signed)
        extra = f"&{signed}" if signed else ""
        return f"{self._base_url}/objects/{quote(key)}?expires={expires}&signature={signature}{extra}"

    def presign_get(
        self, key: str, expires_s: int, *, content_type: str | None = None, disposition: str | None = None
    ) -> str:
        return self._presign("GET", key, expires_s, {"type": content_type or "", "disposition": disposition or ""})

    def presign_put(
        self, key: str, expires_s: int, *, content_type: str | None = None, size: int | None = None
    ) -> PresignedRequest:
        url = self._presign("PUT", key, expires_s, {"size": "" if size is None else str(size)})
        headers = {"Content-Type": content_type} if content_type else {}
        return PresignedRequest(url, "PUT", headers)
