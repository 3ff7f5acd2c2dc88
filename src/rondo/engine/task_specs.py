"""Turns a compiled job into the self-contained task spec an agent runs, with CircleCI's environment."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rondo import config
from rondo.domain.agent_protocol import (
    BuiltinStepSpec,
    CheckoutSpec,
    CheckoutStepSpec,
    DockerImageSpec,
    ExecutorSpec,
    RunStepSpec,
    StepSpec,
    TaskSpec,
)
from rondo.domain.slugs import ProjectSlug


def job_definition(job: config.Job) -> dict[str, Any]:
    """The compiled job as stored on the job row: executor, steps, environment, working directory."""
    ex = job.executor
    executor = ExecutorSpec(
        type=ex.type,
        resource_class=ex.resource_class,
        machine_image=ex.machine_image,
        docker=[
            DockerImageSpec(
                image=img.image,
                name=img.name,
                entrypoint=list(img.entrypoint) if img.entrypoint is not None else None,
                command=list(img.command) if img.command is not None else None,
                user=img.user,
                environment=dict(img.environment),
                auth=dict(img.auth) if img.auth else None,
                aws_auth=dict(img.aws_auth) if img.aws_auth else None,
            )
            for img in ex.docker
        ],
    )
    steps: list[StepSpec] = []
    for step in job.steps:
        if isinstance(step, config.RunStep):
            steps.append(
                RunStepSpec(
                    name=step.name,
                    command=step.command,
                    shell=step.shell,
                    environment=dict(step.environment),
                    working_directory=step.working_directory,
                    background=step.background,
                    when=step.when,
                    no_output_timeout_s=step.no_output_timeout_s,
                    max_auto_reruns=step.max_auto_reruns,
                    auto_rerun_delay_s=step.auto_rerun_delay_s,
                )
            )
        elif isinstance(step, config.CheckoutStep):
            steps.append(CheckoutStepSpec(name=step.name, path=step.path, when=step.when))
        else:
            options = {k: v for k, v in step.options.items()}
            steps.append(BuiltinStepSpec(step=step.type, name=step.name, options=options, when=step.when))
    return {
        "executor": executor.model_dump(mode="json"),
        "steps": [s.model_dump(mode="json") for s in steps],
        "environment": dict(job.environment),
        "working_directory": job.working_directory,
        "parallelism": job.parallelism,
    }


@dataclass(frozen=True)
class TaskContext:
    """What the environment of a task is made from, besides the job itself."""

    task_id: str
    job_id: str
    job_name: str
    job_number: int
    workflow_id: str
    workflow_name: str
    pipeline_id: str
    pipeline_number: int
    project_slug: str
    repository_url: str
    revision: str | None
    branch: str | None
    tag: str | None
    actor: str
    build_url: str
    node_index: int
    node_total: int
    no_output_timeout_s: float
    max_time_s: float
    extra_environment: dict[str, str] = field(default_factory=dict)  # e.g. CIRCLE_CONTINUATION_KEY
    known_hosts: str = ""  # the server's known_hosts lines for an SSH repository's host


def builtin_environment(ctx: TaskContext, working_directory: str) -> dict[str, str]:
    """CircleCI's built-in variables; the job's own `environment` takes precedence over them."""
    slug = ProjectSlug.parse(ctx.project_slug)
    env = {
        "CI": "true",
        "CIRCLECI": "true",
        "CIRCLE_BUILD_NUM": str(ctx.job_number),
        "CIRCLE_BUILD_URL": ctx.build_url,
        "CIRCLE_JOB": ctx.job_name,
        "CIRCLE_NODE_INDEX": str(ctx.node_index),
        "CIRCLE_NODE_TOTAL": str(ctx.node_total),
        "CIRCLE_PIPELINE_ID": ctx.pipeline_id,
        "CIRCLE_PIPELINE_NUMBER": str(ctx.pipeline_number),
        "CIRCLE_PROJECT_USERNAME": slug.org,
        "CIRCLE_PROJECT_REPONAME": slug.repo,
        "CIRCLE_REPOSITORY_URL": ctx.repository_url,
        "CIRCLE_USERNAME": ctx.actor,
        "CIRCLE_WORKFLOW_ID": ctx.workflow_id,
        "CIRCLE_WORKFLOW_JOB_ID": ctx.job_id,
        "CIRCLE_WORKFLOW_WORKSPACE_ID": ctx.workflow_id,
        "CIRCLE_WORKING_DIRECTORY": working_directory,
    }
    if ctx.revision:
        env["CIRCLE_SHA1"] = ctx.revision
    if ctx.branch:
        env["CIRCLE_BRANCH"] = ctx.branch
    if ctx.tag:
        env["CIRCLE_TAG"] = ctx.tag
    env.update(ctx.extra_environment)
    return env


def build_task_spec(definition: dict[str, Any], ctx: TaskContext) -> TaskSpec:
    working_directory = str(definition.get("working_directory") or "~/project")
    environment = builtin_environment(ctx, working_directory)
    environment.update({str(k): str(v) for k, v in definition.get("environment", {}).items()})
    checkout = None
    if ctx.revision:
        checkout = CheckoutSpec(
            repository_url=ctx.repository_url,
            revision=ctx.revision,
            branch=ctx.branch,
            tag=ctx.tag,
            known_hosts=ctx.known_hosts,
        )
    return TaskSpec.model_validate(
        {
            "id": ctx.task_id,
            "job_id": ctx.job_id,
            "job_name": ctx.job_name,
            "job_number": ctx.job_number,
            "project_slug": ctx.project_slug,
            "node_index": ctx.node_index,
            "node_total": ctx.node_total,
            "executor": definition["executor"],
            "working_directory": working_directory,
            "environment": environment,
            "steps": definition["steps"],
            "checkout": checkout.model_dump(mode="json") if checkout else None,
            "no_output_timeout_s": ctx.no_output_timeout_s,
            "max_time_s": ctx.max_time_s,
        }
    )
