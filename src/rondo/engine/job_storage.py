"""What tasks keep in object storage: the agent protocol's uploads, downloads and test results.

Agents get presigned URLs and move the bytes themselves; the server keeps the rows (which cache key,
which workspace layer, which artifact) and checks each upload arrived whole before it counts.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from urllib.parse import quote

from sqlalchemy.ext.asyncio import AsyncSession

from rondo.domain.agent_protocol import (
    CaseResultsBatch,
    CommitRequest,
    CommitResult,
    DownloadGrant,
    DownloadRequest,
    UploadGrant,
    UploadRequest,
)
from rondo.domain.status import JobStatus
from rondo.engine import artifacts, caches, test_results, workspaces
from rondo.engine.agents import NotYourTask
from rondo.engine.artifact_types import served_as
from rondo.engine.storage_errors import StorageRefused
from rondo.objects import ObjectStore
from rondo.store import artifacts as artifact_q
from rondo.store import pipelines as pipeline_q
from rondo.store import tasks as task_q
from rondo.store import test_results as test_q
from rondo.store.db import Database
from rondo.store.models import Artifact, Job, JobTestResult, Task

GIB = 1024**3
DOWNLOAD_TTL_S = 300  # artifact links redirect here: a client follows at once


@dataclass(frozen=True)
class StorageSettings:
    presign_ttl_s: int = 3600
    max_object_bytes: int = 5 * GIB  # one PUT to S3 takes at most 5 GiB
    serve_unsafe_artifacts: bool = False


@dataclass(frozen=True)
class TaskScope:
    """The running task an agent asks for, and its job."""

    task: Task
    job: Job


class JobStorage:
    def __init__(self, db: Database, objects: ObjectStore, settings: StorageSettings) -> None:
        self._db = db
        self.objects = objects
        self.settings = settings

    async def _scope(self, session: AsyncSession, task_id: uuid.UUID, agent_id: str) -> TaskScope:
        task = await task_q.task_by_id(session, task_id)
        if task is None or task.agent_id is None or str(task.agent_id) != agent_id:
            raise NotYourTask(f"task {task_id} is not assigned to agent {agent_id}")
        if task.status != JobStatus.RUNNING:
            raise NotYourTask(f"task {task_id} is {task.status}, not running")
        job = await pipeline_q.job_by_id(session, task.job_id)
        assert job is not None
        return TaskScope(task, job)

    def _check_size(self, size: int | None, what: str) -> int:
        if size is None:
            raise StorageRefused(400, f"a {what} upload needs its size")
        if size > self.settings.max_object_bytes:
            raise StorageRefused(
                413,
                f"the {what} is {_human(size)}, over this server's limit of "
                f"{_human(self.settings.max_object_bytes)} per object",
            )
        return size

    async def grant(self, task_id: uuid.UUID, req: UploadRequest) -> UploadGrant:
        ttl = self.settings.presign_ttl_s
        async with self._db.session() as session:
            scope = await self._scope(session, task_id, req.agent_id)
            if req.kind == "cache":
                if not req.key:
                    raise StorageRefused(400, "a cache upload needs its key")
                if req.size is None:  # only asking whether the key is taken, before making the archive
                    return await caches.check(session, scope.job, req.key)
                size = self._check_size(req.size, "cache archive")
                return await caches.reserve(session, self.objects, scope.job, req.key, size, ttl)
            if req.kind == "workspace":
                size = self._check_size(req.size, "workspace layer")
                return await workspaces.reserve(session, self.objects, scope.job, scope.task, size, ttl)
            for file in req.files:
                self._check_size(file.size, f"artifact {file.path}")
            return await artifacts.reserve(session, self.objects, scope.job, scope.task, req.files, ttl)

    async def commit(self, task_id: uuid.UUID, req: CommitRequest) -> CommitResult:
        ids = [_uuid(i) for i in req.ids]
        async with self._db.session() as session:
            scope = await self._scope(session, task_id, req.agent_id)
            if req.kind == "cache":
                return await caches.commit(session, self.objects, scope.job, ids, req.ok)
            if req.kind == "workspace":
                return await workspaces.commit(session, self.objects, scope.job, ids, req.ok)
            return await artifacts.commit(session, self.objects, scope.job, scope.task, ids, req.ok)

    async def downloads(self, task_id: uuid.UUID, req: DownloadRequest) -> DownloadGrant:
        ttl = self.settings.presign_ttl_s
        async with self._db.session() as session:
            scope = await self._scope(session, task_id, req.agent_id)
            if req.kind == "cache":
                return await caches.find(session, self.objects, scope.job, req.keys, ttl)
            return await workspaces.layers(session, self.objects, scope.job, ttl)

    async def add_tests(self, task_id: uuid.UUID, batch: CaseResultsBatch) -> CommitResult:
        async with self._db.session() as session:
            scope = await self._scope(session, task_id, batch.agent_id)
            return await test_results.add(session, scope.job, scope.task, batch.tests)

    # ---- reading what jobs stored (the API) ------------------------------------------------------

    async def artifacts_of(self, job_id: uuid.UUID) -> list[Artifact]:
        async with self._db.session() as session:
            return await artifact_q.artifacts_of_job(session, job_id)

    async def artifact(self, job_id: uuid.UUID, node_index: int, path: str) -> Artifact | None:
        async with self._db.session() as session:
            found = await artifact_q.artifact_at(session, job_id, node_index, path)
        return found if found is not None and found.committed_at is not None else None

    def download_url(self, artifact: Artifact) -> str:
        """A short-lived URL serving the artifact with CircleCI's content-type rules."""
        content_type, disposition = served_as(artifact.content_type, self.settings.serve_unsafe_artifacts)
        if disposition == "attachment":
            disposition += f"; filename*=UTF-8''{quote(artifact.path.rsplit('/', 1)[-1], safe='')}"
        return self.objects.presign_get(
            artifact.object_key, DOWNLOAD_TTL_S, content_type=content_type, disposition=disposition
        )

    async def tests_of(self, job_id: uuid.UUID, offset: int = 0, limit: int | None = None) -> list[JobTestResult]:
        async with self._db.session() as session:
            return await test_q.tests_of_job(session, job_id, offset, limit)


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise StorageRefused(400, f"upload id {value!r} is not one this server gave") from None


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"
