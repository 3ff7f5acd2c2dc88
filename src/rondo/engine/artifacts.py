"""`store_artifacts` on the server: one row and one object per file, listed and downloaded by path."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from rondo.domain.agent_protocol import CommitResult, PresignedUpload, UploadFile, UploadGrant
from rondo.engine.artifact_types import guess_type
from rondo.engine.storage_errors import StorageRefused
from rondo.objects import ObjectStore
from rondo.store import artifacts as artifact_q
from rondo.store.models import Artifact, Job, Task
from rondo.store.types import utcnow


def clean_path(path: str) -> str:
    """An artifact's path as listed: '/'-separated, relative, without empty, '.' or '..' parts."""
    parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or ".." in parts or any("\x00" in p for p in parts):
        raise StorageRefused(400, f"artifact path {path!r} is not a relative path")
    return "/".join(parts)


async def reserve(
    session: AsyncSession, objects: ObjectStore, job: Job, task: Task, files: Sequence[UploadFile], ttl_s: int
) -> UploadGrant:
    uploads = []
    for file in files:
        path = clean_path(file.path)
        artifact_id = uuid.uuid4()
        artifact = Artifact(
            id=artifact_id,
            job_id=job.id,
            node_index=task.node_index,
            path=path,
            object_key=f"artifacts/{job.project_id}/{job.id}/{task.node_index}/{artifact_id}",
            size_bytes=file.size,
            content_type=guess_type(path),
        )
        session.add(artifact)
        put = objects.presign_put(artifact.object_key, ttl_s, content_type=artifact.content_type, size=file.size)
        uploads.append(PresignedUpload(id=str(artifact_id), url=put.url, headers=put.headers, path=path))
    return UploadGrant(uploads=uploads)


async def commit(
    session: AsyncSession, objects: ObjectStore, job: Job, task: Task, ids: list[uuid.UUID], ok: bool
) -> CommitResult:
    found = {a.id: a for a in await artifact_q.artifacts_by_ids(session, ids)}
    committed = 0
    now = utcnow()
    for artifact_id in ids:
        artifact = found.get(artifact_id)
        if artifact is None or artifact.job_id != job.id or artifact.node_index != task.node_index:
            raise StorageRefused(409, f"artifact upload {artifact_id} is not this job's (or it expired)")
        if not ok:
            await objects.delete(artifact.object_key)
            await session.delete(artifact)
            continue
        previous = await artifact_q.artifact_at(session, job.id, artifact.node_index, artifact.path)
        if previous is not None and previous.id != artifact.id and previous.committed_at is not None:
            # A later step stored the same path: the newer file replaces the older, as on CircleCI.
            await objects.delete(previous.object_key)
            await session.delete(previous)
        artifact.committed_at = now
        committed += 1
    return CommitResult(committed=committed)
