"""`save_cache` / `restore_cache` on the server: immutable keys per project, restore by newest prefix."""

from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from rondo.domain.agent_protocol import CommitResult, DownloadGrant, PresignedDownload, PresignedUpload, UploadGrant
from rondo.engine.storage_errors import StorageRefused, commit_reserved
from rondo.objects import ObjectStore
from rondo.store import caches as cache_q
from rondo.store import pipelines as pipeline_q
from rondo.store.models import Cache, Job

CONTENT_TYPE = "application/zstd"


def _exists_message(key: str, cache: Cache) -> str:
    if cache.committed_at is None:
        return f"Skipping cache generation: another job is saving the cache for key {key} right now"
    when = cache.committed_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"Skipping cache generation, cache already exists for key: {key}\nFound one created at {when}"


async def check(session: AsyncSession, job: Job, key: str) -> UploadGrant:
    """Whether a key is free: an empty grant, or why saving it would be skipped."""
    existing = await cache_q.cache_by_key(session, job.project_id, key)
    return UploadGrant(skip=_exists_message(key, existing) if existing is not None else None)


async def reserve(
    session: AsyncSession, objects: ObjectStore, job: Job, key: str, size: int, ttl_s: int
) -> UploadGrant:
    """An upload URL for a new key, or why nothing is to be saved (keys are immutable: the first wins)."""
    existing = await cache_q.cache_by_key(session, job.project_id, key)
    if existing is not None:
        return UploadGrant(skip=_exists_message(key, existing))
    cache_id = uuid.uuid4()
    cache = Cache(
        id=cache_id,
        project_id=job.project_id,
        key=key,
        object_key=f"caches/{job.project_id}/{cache_id}.tar.zst",
        size_bytes=size,
        job_id=job.id,
    )
    try:
        async with session.begin_nested():
            session.add(cache)
    except IntegrityError:  # another job reserved the key a moment ago
        return UploadGrant(skip=f"Skipping cache generation: another job is saving the cache for key {key}")
    put = objects.presign_put(cache.object_key, ttl_s, content_type=CONTENT_TYPE, size=size)
    return UploadGrant(uploads=[PresignedUpload(id=str(cache_id), url=put.url, headers=put.headers)])


async def commit(session: AsyncSession, objects: ObjectStore, job: Job, ids: list[uuid.UUID], ok: bool) -> CommitResult:
    committed = 0
    for cache_id in ids:
        cache = await cache_q.cache_by_id(session, cache_id)
        if cache is None or cache.job_id != job.id:
            raise StorageRefused(409, f"cache upload {cache_id} is not this job's (or it expired)")
        if await commit_reserved(session, objects, cache, ok, f"the archive for cache key {cache.key}"):
            committed += 1
    return CommitResult(committed=committed)


async def find(session: AsyncSession, objects: ObjectStore, job: Job, keys: list[str], ttl_s: int) -> DownloadGrant:
    """The newest cache matching the first key (each a prefix) that matches anything."""
    for key in keys:
        if not key:
            continue
        cache = await cache_q.newest_with_prefix(session, job.project_id, key)
        if cache is None:
            continue
        saver = await pipeline_q.job_by_id(session, cache.job_id) if cache.job_id else None
        return DownloadGrant(
            items=[
                PresignedDownload(
                    url=objects.presign_get(cache.object_key, ttl_s),
                    size=cache.size_bytes,
                    key=cache.key,
                    build_num=saver.number if saver else None,
                    created_at=cache.committed_at,
                )
            ]
        )
    return DownloadGrant()
