"""The one error of the storage part of the agent protocol, and the commit step caches and workspaces share."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from rondo.objects import ObjectNotFound, ObjectStore
from rondo.store.types import utcnow


class StorageRefused(Exception):
    """A request the server will not grant: too large, malformed, or naming uploads it never gave."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


class ReservedUpload(Protocol):
    """A row reserved before its archive is uploaded, committed once the archive arrived whole."""

    object_key: str
    size_bytes: int
    committed_at: datetime | None


async def commit_reserved(
    session: AsyncSession, objects: ObjectStore, row: ReservedUpload, ok: bool, what: str
) -> bool:
    """Mark `row` committed after checking its archive's size; drop row and object when the agent gave up.

    Returns whether it was committed; a missing or short archive is refused (409) naming `what`.
    """
    if not ok:
        await objects.delete(row.object_key)
        await session.delete(row)
        return False
    try:
        size = await objects.size(row.object_key)
    except ObjectNotFound:
        raise StorageRefused(409, f"{what} never arrived in storage") from None
    if size != row.size_bytes:
        raise StorageRefused(409, f"{what} has {size} bytes, not {row.size_bytes}")
    row.committed_at = utcnow()
    return True
