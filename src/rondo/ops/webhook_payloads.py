"""The JSON bodies of outbound webhooks, in the shape of CircleCI's samples (workflow-completed, job-completed).

Field names, nesting and order follow `outbound-webhooks-reference` of CircleCI's docs; see docs/webhooks.md.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rondo.domain.slugs import ProjectSlug
from rondo.domain.webhooks import JOB_COMPLETED, WORKFLOW_COMPLETED
from rondo.store.models import Job, Organization, Pipeline, Project, Webhook, Workflow


@dataclass(frozen=True)
class EventSubject:
    """What a completion event is about: a workflow (and its job, for job-completed) with its ancestors."""

    project: Project
    organization: Organization
    pipeline: Pipeline
    workflow: Workflow
    job: Job | None = None


def millis(value: datetime | None) -> str | None:
    """UTC, milliseconds and a Z, as CircleCI writes times: 2021-09-01T22:49:34.317Z."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _seconds(value: datetime | None) -> str | None:
    """Commit times as CircleCI writes them: 2021-09-01T22:48:53Z."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def workflow_url(public_url: str, pipeline: Pipeline, workflow: Workflow) -> str:
    """The workflow on Rondo's pipeline page."""
    return f"{public_url}/pipelines/{pipeline.id}#workflow-{workflow.id}"


def _vcs(pipeline: Pipeline, slug: ProjectSlug) -> dict[str, Any]:
    vcs: dict[str, Any] = {
        "provider_name": slug.vcs_type,
        "origin_repository_url": pipeline.vcs_url,
        "target_repository_url": pipeline.vcs_url,
        "revision": pipeline.revision or "",
    }
    if pipeline.commit_subject is not None:
        vcs["commit"] = {
            "subject": pipeline.commit_subject,
            "body": pipeline.commit_body or "",
            "author": {"name": pipeline.commit_author_name, "email": pipeline.commit_author_email},
            "authored_at": _seconds(pipeline.commit_authored_at),
            "committer": {"name": pipeline.commit_committer_name, "email": pipeline.commit_committer_email},
            "committed_at": _seconds(pipeline.commit_committed_at),
        }
    if pipeline.branch:
        vcs["branch"] = pipeline.branch
    if pipeline.tag:
        vcs["tag"] = pipeline.tag
    return vcs


def event_payload(
    event_type: str,
    event_id: uuid.UUID,
    happened_at: datetime,
    webhook: Webhook,
    subject: EventSubject,
    public_url: str,
) -> dict[str, Any]:
    """The body of one event for one webhook. job-completed adds `job`, and its `workflow` has no status."""
    slug = ProjectSlug.parse(subject.project.slug)
    pipeline, workflow = subject.pipeline, subject.workflow
    workflow_part: dict[str, Any] = {
        "id": str(workflow.id),
        "name": workflow.name,
        "created_at": millis(workflow.created_at),
        "stopped_at": millis(workflow.stopped_at),
        "url": workflow_url(public_url, pipeline, workflow),
    }
    if event_type == WORKFLOW_COMPLETED:
        workflow_part["status"] = workflow.status
    body: dict[str, Any] = {
        "id": str(event_id),
        "type": event_type,
        "happened_at": millis(happened_at),
        "webhook": {"id": str(webhook.id), "name": webhook.name},
        "project": {"id": str(subject.project.id), "name": subject.project.name, "slug": slug.long},
        "organization": {"id": str(subject.organization.id), "name": subject.organization.name},
        "pipeline": {
            "id": str(pipeline.id),
            "number": pipeline.number,
            "created_at": millis(pipeline.created_at),
            "trigger": {"type": pipeline.trigger_type},
            "vcs": _vcs(pipeline, slug),
        },
        "workflow": workflow_part,
    }
    if event_type == JOB_COMPLETED:
        job = subject.job
        assert job is not None, "a job-completed event is about a job"
        body["job"] = {
            "id": str(job.id),
            "name": job.name,
            "started_at": millis(job.started_at),
            "stopped_at": millis(job.stopped_at),
            "status": job.status,
            "number": job.number,
        }
    return body


def encode(payload: dict[str, Any]) -> str:
    """The body's text, exactly as it is sent and signed."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
