"""Workspaces on the server: each job's `persist_to_workspace` adds a layer to its workflow's workspace.

A workspace belongs to the original workflow, so reruns see its layers; a job attaching gets the
newest layers of its upstream jobs in graph order, each marked with which earlier layers are upstream
of it (the agent refuses a file written by two concurrent jobs).
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from rondo.domain.agent_protocol import CommitResult, DownloadGrant, PresignedDownload, PresignedUpload, UploadGrant
from rondo.domain.workspace_graph import layers_to_attach
from rondo.engine.storage_errors import StorageRefused, commit_reserved
from rondo.objects import ObjectStore
from rondo.store import pipelines as pipeline_q
from rondo.store import workspaces as layer_q
from rondo.store.models import Job, Task, Workflow, WorkspaceLayer

CONTENT_TYPE = "application/zstd"


async def workspace_of(session: AsyncSession, workflow: Workflow) -> uuid.UUID:
    """The workspace's id: the id of the workflow this one reruns, all the way back to the first."""
    seen = {workflow.id}
    while workflow.rerun_of_id is not None and workflow.rerun_of_id not in seen:
        original = await pipeline_q.workflow_by_id(session, workflow.rerun_of_id)
        if original is None:
            break
        seen.add(original.id)
        workflow = original
    return workflow.id


async def _workflow(session: AsyncSession, job: Job) -> Workflow:
    workflow = await pipeline_q.workflow_by_id(session, job.workflow_id)
    assert workflow is not None
    return workflow


async def reserve(
    session: AsyncSession, objects: ObjectStore, job: Job, task: Task, size: int, ttl_s: int
) -> UploadGrant:
    workflow = await _workflow(session, job)
    workspace_id = await workspace_of(session, workflow)
    layer_id = uuid.uuid4()
    layer = WorkspaceLayer(
        id=layer_id,
        workspace_id=workspace_id,
        workflow_id=workflow.id,
        job_id=job.id,
        job_name=job.name,
        node_index=task.node_index,
        object_key=f"workspaces/{workspace_id}/{layer_id}.tar.zst",
        size_bytes=size,
    )
    session.add(layer)
    put = objects.presign_put(layer.object_key, ttl_s, content_type=CONTENT_TYPE, size=size)
    return UploadGrant(uploads=[PresignedUpload(id=str(layer_id), url=put.url, headers=put.headers)])


async def commit(session: AsyncSession, objects: ObjectStore, job: Job, ids: list[uuid.UUID], ok: bool) -> CommitResult:
    committed = 0
    for layer_id in ids:
        layer = await layer_q.layer_by_id(session, layer_id)
        if layer is None or layer.job_id != job.id:
            raise StorageRefused(409, f"workspace upload {layer_id} is not this job's (or it expired)")
        if await commit_reserved(session, objects, layer, ok, "the workspace layer"):
            committed += 1
    return CommitResult(committed=committed)


def _newest_run(layers: list[WorkspaceLayer]) -> list[WorkspaceLayer]:
    """Of one job name's layers, those of its newest run (a rerun's layers replace the original's)."""
    newest = max(layers, key=lambda layer: layer.committed_at or layer.created_at)
    return sorted((x for x in layers if x.job_id == newest.job_id), key=lambda x: x.node_index)


async def layers(session: AsyncSession, objects: ObjectStore, job: Job, ttl_s: int) -> DownloadGrant:
    workflow = await _workflow(session, job)
    workspace_id = await workspace_of(session, workflow)
    jobs = await pipeline_q.jobs_of(session, workflow.id)
    requires = {j.name: list(j.requires) for j in jobs}
    order = layers_to_attach([j.name for j in jobs], requires, job.name)
    found = await layer_q.committed_layers(session, workspace_id, [name for name, _ in order])
    by_name: dict[str, list[WorkspaceLayer]] = {}
    for layer in found:
        by_name.setdefault(layer.job_name, []).append(layer)
    items: list[PresignedDownload] = []
    index_of: dict[str, list[int]] = {}
    for name, its_upstream in order:
        for layer in _newest_run(by_name[name]) if name in by_name else []:
            upstream = sorted(i for up in its_upstream for i in index_of.get(up, []))
            persisted_by = await pipeline_q.job_by_id(session, layer.job_id)
            index_of.setdefault(name, []).append(len(items))
            items.append(
                PresignedDownload(
                    url=objects.presign_get(layer.object_key, ttl_s),
                    size=layer.size_bytes,
                    job_name=name,
                    build_num=persisted_by.number if persisted_by else None,
                    created_at=layer.committed_at,
                    upstream=upstream,
                )
            )
    return DownloadGrant(items=items, workspace_id=str(workspace_id))
