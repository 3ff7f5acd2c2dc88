"""Step output: chunk rows while a step runs, one zstd JSON object per step once it ends."""

from __future__ import annotations

import json
import uuid
from typing import Any

from backports import zstd

from rondo.objects import ObjectNotFound, ObjectStore
from rondo.store import pipelines as pipeline_q
from rondo.store import tasks as task_q
from rondo.store.db import Database
from rondo.store.models import OutputChunk, Step, Task

OutputMessages = list[dict[str, Any]]


def _messages(chunks: list[OutputChunk]) -> OutputMessages:
    """CircleCI's output shape: [{"type": "out", "time": ..., "message": ..., "truncated": false}]."""
    return [
        {
            "type": "out",
            "time": c.at.isoformat().replace("+00:00", "Z"),
            "message": c.data,
            "truncated": False,
        }
        for c in chunks
    ]


def output_key(project_id: uuid.UUID, job_id: uuid.UUID, node_index: int, step_index: int) -> str:
    return f"output/{project_id}/{job_id}/{node_index}/{step_index}.json.zst"


class OutputService:
    def __init__(self, db: Database, objects: ObjectStore) -> None:
        self._db = db
        self._objects = objects

    async def compact(self, task_id: uuid.UUID, step_index: int) -> None:
        """Move a finished step's chunks into object storage; the rows go only once the object is written."""
        async with self._db.session() as session:
            task = await task_q.task_by_id(session, task_id)
            step = await task_q.step_of(session, task_id, step_index)
            if task is None or step is None or step.output_key is not None:
                return
            job = await pipeline_q.job_by_id(session, task.job_id)
            assert job is not None
            chunks = await task_q.output_chunks(session, task_id, step_index)
            key = output_key(job.project_id, job.id, task.node_index, step_index)
        payload = json.dumps(_messages(chunks), ensure_ascii=False).encode()
        await self._objects.put(key, zstd.compress(payload), "application/json")
        async with self._db.session() as session:
            step = await task_q.step_of(session, task_id, step_index)
            assert step is not None
            step.output_key = key
            await task_q.drop_output_chunks(session, task_id, step_index)

    async def read(self, step: Step, task: Task) -> OutputMessages:
        """The step's output so far: from object storage once compacted, else from the live chunks."""
        if step.output_key is not None:
            try:
                raw = await self._objects.get(step.output_key)
            except ObjectNotFound:
                return []
            data: OutputMessages = json.loads(zstd.decompress(raw))
            return data
        async with self._db.session() as session:
            return _messages(await task_q.output_chunks(session, task.id, step.index))
