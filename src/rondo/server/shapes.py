"""Pipelines, workflows and jobs in the JSON shapes CircleCI's API v2 returns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rondo.domain.slugs import ProjectSlug
from rondo.store.models import Job, Pipeline, Project, Workflow

_PROVIDERS = {"gh": "GitHub", "bb": "Bitbucket", "circleci": "CircleCI"}


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def project_json(project: Project, org_name: str, org_id: str) -> dict[str, Any]:
    slug = ProjectSlug.parse(project.slug)
    return {
        "slug": project.slug,
        "name": project.name,
        "id": str(project.id),
        "organization_name": org_name,
        "organization_slug": slug.org_slug,
        "organization_id": org_id,
        "vcs_info": {
            "vcs_url": project.vcs_url,
            "provider": _PROVIDERS.get(slug.vcs, "GitHub"),
            "default_branch": project.default_branch or "",
        },
    }


def pipeline_json(pipeline: Pipeline, project: Project) -> dict[str, Any]:
    slug = ProjectSlug.parse(project.slug)
    vcs: dict[str, Any] = {
        "provider_name": _PROVIDERS.get(slug.vcs, "GitHub"),
        "origin_repository_url": pipeline.vcs_url,
        "target_repository_url": pipeline.vcs_url,
        "revision": pipeline.revision or "",
    }
    if pipeline.branch:
        vcs["branch"] = pipeline.branch
    if pipeline.tag:
        vcs["tag"] = pipeline.tag
    if pipeline.commit_subject is not None:
        vcs["commit"] = {"subject": pipeline.commit_subject, "body": pipeline.commit_body or ""}
    body: dict[str, Any] = {
        "id": str(pipeline.id),
        "errors": [{"type": e.get("type", "config"), "message": e.get("message", "")} for e in pipeline.errors],
        "project_slug": project.slug,
        "updated_at": iso(pipeline.updated_at),
        "number": pipeline.number,
        "state": pipeline.state,
        "created_at": iso(pipeline.created_at),
        "trigger": {
            "type": pipeline.trigger_type,
            "received_at": iso(pipeline.created_at),
            "actor": {"login": pipeline.trigger_actor, "avatar_url": None},
        },
        "vcs": vcs,
    }
    if pipeline.parameters:
        body["trigger_parameters"] = pipeline.parameters
    return body


def workflow_json(workflow: Workflow, pipeline: Pipeline, project: Project) -> dict[str, Any]:
    return {
        "pipeline_id": str(pipeline.id),
        "id": str(workflow.id),
        "name": workflow.name,
        "project_slug": project.slug,
        "status": workflow.status,
        "started_by": workflow.started_by or pipeline.trigger_actor,
        "canceled_by": workflow.canceled_by,
        "errored_by": None,
        "tag": workflow.tag,
        "pipeline_number": pipeline.number,
        "created_at": iso(workflow.created_at),
        "stopped_at": iso(workflow.stopped_at),
        "auto_rerun_number": workflow.auto_rerun,
        "max_auto_reruns": workflow.max_auto_reruns,
    }


def workflow_job_json(job: Job, ids_by_name: dict[str, str], project: Project) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": str(job.id),
        "name": job.name,
        "project_slug": project.slug,
        "status": job.status,
        "type": job.type,
        "dependencies": [ids_by_name[name] for name in job.requires if name in ids_by_name],
        "started_at": iso(job.started_at),
        "stopped_at": iso(job.stopped_at),
    }
    if job.number is not None:
        body["job_number"] = job.number
    if job.type == "approval":
        body["approval_request_id"] = str(job.id)
    if any(list(statuses) != ["success"] for statuses in job.requires.values()):
        body["requires"] = {ids_by_name[n]: s for n, s in job.requires.items() if n in ids_by_name}
    return body


def job_details_json(
    job: Job,
    task_statuses: list[tuple[int, str]],
    workflow: Workflow,
    pipeline: Pipeline,
    project: Project,
    org_name: str,
    public_url: str,
    messages: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    duration = None
    if job.started_at and job.stopped_at:
        duration = int((job.stopped_at - job.started_at).total_seconds() * 1000)
    return {
        "web_url": f"{public_url}/{project.slug}/{job.number}",
        "project": {
            "id": str(project.id),
            "slug": project.slug,
            "name": project.name,
            "external_url": project.vcs_url,
        },
        "parallel_runs": [{"index": index, "status": status} for index, status in task_statuses],
        "started_at": iso(job.started_at),
        "latest_workflow": {"id": str(workflow.id), "name": workflow.name},
        "name": job.name,
        "executor": {"resource_class": job.resource_class, "type": job.executor_type},
        "parallelism": job.parallelism,
        "status": job.status,
        "number": job.number,
        "pipeline": {"id": str(pipeline.id)},
        "duration": duration,
        "created_at": iso(job.created_at),
        "messages": messages or [],
        "contexts": [{"name": c} for c in (job.contexts or [])],
        "organization": {"name": org_name},
        "queued_at": iso(job.queued_at),
        "stopped_at": iso(job.stopped_at),
    }
