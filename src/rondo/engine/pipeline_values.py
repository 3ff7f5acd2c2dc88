"""The `<< pipeline.* >>` values of one pipeline (CONFIG-SPEC §8.1), for compiling its config.

Values that do not apply (a tag on a branch build, a schedule on a push) are present as None,
so configs can test them (`pipeline.git.tag` is falsy) without "unknown variable" errors.
"""

from __future__ import annotations

from typing import Any

from rondo import config
from rondo.domain.slugs import ProjectSlug
from rondo.store.models import Pipeline, Project

EVENT_NAMES = {"webhook": "push", "api": "api", "scheduled_pipeline": "schedule"}
TRIGGER_TYPES = {"scheduled_pipeline": "schedule"}  # `pipeline.trigger.type`; others keep the stored type


def pipeline_values(
    pipeline: Pipeline,
    project: Project,
    public_url: str,
    *,
    schedule_id: str | None = None,
    schedule_name: str | None = None,
) -> dict[str, Any]:
    """`schedule_id`/`schedule_name` name the schedule that made a scheduled pipeline (None otherwise)."""
    values = config.local_pipeline_values()
    slug = ProjectSlug.parse(project.slug)
    received = pipeline.created_at.isoformat().replace("+00:00", "Z") if pipeline.created_at else ""
    subject = pipeline.commit_subject or ""
    values.update(
        {
            "pipeline.id": str(pipeline.id),
            "pipeline.number": pipeline.number,
            "pipeline.name": project.name,
            "pipeline.definition.id": str(project.id),
            "pipeline.project.git_url": f"{public_url.rstrip('/')}/{slug.long}",
            "pipeline.project.type": slug.vcs_type,
            "pipeline.project.slug": project.slug,
            "pipeline.integration_source": None,
            "pipeline.git.tag": pipeline.tag or None,
            "pipeline.git.branch": pipeline.branch or None,
            "pipeline.git.branch.is_default": bool(pipeline.branch and pipeline.branch == project.default_branch),
            "pipeline.git.revision": pipeline.revision or "",
            "pipeline.git.base_revision": None,
            "pipeline.git.repo_url": project.vcs_url,
            "pipeline.git.repo_owner": slug.org,
            "pipeline.git.repo_name": slug.repo,
            "pipeline.git.repo_id": str(project.id),
            "pipeline.git.commit.url": "",
            "pipeline.git.commit.subject": subject,
            "pipeline.git.commit.body": pipeline.commit_body or "",
            "pipeline.git.commit.author_login": pipeline.trigger_actor,
            "pipeline.config.file_path": ".circleci/config.yml",
            "pipeline.trigger.type": TRIGGER_TYPES.get(pipeline.trigger_type, pipeline.trigger_type),
            "pipeline.trigger.id": str(pipeline.id),
            "pipeline.trigger.received_at": received,
            "pipeline.trigger.name": schedule_name or "",
            "pipeline.schedule.id": schedule_id,
            "pipeline.schedule.name": schedule_name,
            "pipeline.trigger_source": pipeline.trigger_type,
            "pipeline.event.name": EVENT_NAMES.get(pipeline.trigger_type, pipeline.trigger_type),
            "pipeline.trigger_parameters.circleci.trigger_type": pipeline.trigger_type,
            "pipeline.trigger_parameters.circleci.event_time": received,
            "pipeline.trigger_parameters.git.branch": pipeline.branch or None,
            "pipeline.trigger_parameters.git.tag": pipeline.tag or None,
            "pipeline.trigger_parameters.git.checkout_sha": pipeline.revision or "",
            "pipeline.trigger_parameters.git.repo_url": project.vcs_url,
        }
    )
    return values
