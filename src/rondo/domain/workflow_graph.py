"""A workflow's job graph: which blocked jobs may run, which never will, and the workflow's status.

Pure functions over job names and statuses, so the conductor's rules are tested without a database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from rondo.domain.status import (
    FAILED_JOB_STATUSES,
    FINAL_JOB_STATUSES,
    JobStatus,
    WorkflowStatus,
)

DEFAULT_REQUIRED_STATUSES = frozenset({JobStatus.SUCCESS})


@dataclass(frozen=True)
class GraphJob:
    name: str
    status: JobStatus
    # required job name -> statuses of that job that let this one run (CircleCI: success by default)
    requires: Mapping[str, frozenset[JobStatus]] = field(default_factory=dict)


@dataclass(frozen=True)
class Unblocked:
    runnable: tuple[str, ...]
    not_run: tuple[str, ...]


def unblock(jobs: Mapping[str, GraphJob]) -> Unblocked:
    """Decide, for every blocked job, whether it can run now, never will, or must keep waiting.

    A blocked job runs once every required job has finished in one of its accepted statuses; it is
    `not_run` as soon as one required job has finished in a status it does not accept.
    """
    runnable: list[str] = []
    not_run: list[str] = []
    for job in jobs.values():
        if job.status != JobStatus.BLOCKED:
            continue
        waiting = False
        doomed = False
        for req_name, accepted in job.requires.items():
            req = jobs.get(req_name)
            if req is None or req.status not in FINAL_JOB_STATUSES:
                waiting = True
            elif req.status not in accepted:
                doomed = True
        if doomed:
            not_run.append(job.name)
        elif not waiting:
            runnable.append(job.name)
    return Unblocked(tuple(runnable), tuple(not_run))


def settle(jobs: Mapping[str, GraphJob]) -> dict[str, JobStatus]:
    """Apply `unblock` until nothing changes; return the new status of every job that changed.

    Jobs that become runnable are reported as `queued`; a `not_run` job can doom its own dependants,
    so this repeats until the graph is stable.
    """
    current = dict(jobs)
    changed: dict[str, JobStatus] = {}
    while True:
        step = unblock(current)
        if not step.runnable and not step.not_run:
            return changed
        for name in step.runnable:
            changed[name] = JobStatus.QUEUED
            current[name] = GraphJob(name, JobStatus.QUEUED, current[name].requires)
        for name in step.not_run:
            changed[name] = JobStatus.NOT_RUN
            current[name] = GraphJob(name, JobStatus.NOT_RUN, current[name].requires)


def workflow_status(statuses: list[JobStatus]) -> WorkflowStatus:
    """Derive a workflow's status from its jobs' statuses, as CircleCI reports it."""
    if not statuses:
        return WorkflowStatus.SUCCESS
    any_failed = any(s in FAILED_JOB_STATUSES for s in statuses)
    active = [s for s in statuses if s not in FINAL_JOB_STATUSES]
    if active:
        moving = any(s in (JobStatus.RUNNING, JobStatus.QUEUED, JobStatus.NOT_RUNNING) for s in active)
        if any(s == JobStatus.ON_HOLD for s in active) and not moving:
            return WorkflowStatus.FAILING if any_failed else WorkflowStatus.ON_HOLD
        return WorkflowStatus.FAILING if any_failed else WorkflowStatus.RUNNING
    if any(s == JobStatus.UNAUTHORIZED for s in statuses):
        return WorkflowStatus.UNAUTHORIZED
    if any(s == JobStatus.CANCELED for s in statuses):
        return WorkflowStatus.CANCELED
    if any_failed:
        return WorkflowStatus.FAILED
    if all(s == JobStatus.NOT_RUN for s in statuses):
        return WorkflowStatus.NOT_RUN
    return WorkflowStatus.SUCCESS
