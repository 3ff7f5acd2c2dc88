"""The object storage interface: artifacts, caches, workspaces, test results and step output.

Agents move bulk bytes themselves through presigned URLs; the server reads and writes small objects.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol

MAX_KEY_LENGTH = 1024
_BAD_SEGMENTS = {"", ".", ".."}
_ALLOWED = re.compile(r"^[A-Za-z0-9._~@+=,:%-]+$")


class ObjectStoreError(Exception):
    """Something went wrong storing or reading an object."""


class ObjectNotFound(ObjectStoreError):
    pass


class ObjectKeyError(ObjectStoreError):
    """A key that is not a plain relative path: refused before it reaches any backend."""


class SignatureError(ObjectStoreError):
    """A presigned URL that is expired, tampered with, or for another method."""


class ObjectTooLarge(ObjectStoreError):
    """An upload larger than it was signed for, or than the store accepts."""


@dataclass(frozen=True)
class PresignedRequest:
    """A URL that works without credentials until it expires, and the headers to send with it."""

    url: str
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)


def check_key(key: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ObjectKeyError(f"object key must be 1 to {MAX_KEY_LENGTH} characters long")
    if key.startswith("/") or "\\" in key or "\x00" in key:
        raise ObjectKeyError(f"object key {key!r} must be a relative path with '/' separators")
    for segment in key.split("/"):
        if segment in _BAD_SEGMENTS or not _ALLOWED.match(segment):
            raise ObjectKeyError(f"object key {key!r} has an invalid segment {segment!r}")
    return key


class ObjectStore(Protocol):
    async def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None: ...

    async def get(self, key: str) -> bytes: ...

    def open_stream(self, key: str) -> AsyncIterator[bytes]: ...

    async def exists(self, key: str) -> bool: ...

    async def size(self, key: str) -> int: ...

    async def delete(self, key: str) -> None: ...

    async def list(self, prefix: str) -> list[str]: ...

    def presign_get(
        self, key: str, expires_s: int, *, content_type: str | None = None, disposition: str | None = None
    ) -> str:
        """A GET URL; `content_type` and `disposition` override what the download is served as."""
        ...

    def presign_put(
        self, key: str, expires_s: int, *, content_type: str | None = None, size: int | None = None
    ) -> PresignedRequest:
        """A PUT URL for exactly `size` bytes (when given) of `content_type`."""
        ...
