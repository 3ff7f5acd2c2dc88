"""CircleCI's status vocabularies for pipelines, workflows, jobs and steps, kept verbatim so clients work."""

from __future__ import annotations

from enum import StrEnum


class PipelineState(StrEnum):
    CREATED = "created"
    ERRORED = "errored"
    SETUP_PENDING = "setup-pending"
    SETUP = "setup"
    PENDING = "pending"


class WorkflowStatus(StrEnum):
    SUCCESS = "success"
    RUNNING = "running"
    NOT_RUN = "not_run"
    FAILED = "failed"
    ERROR = "error"
    FAILING = "failing"
    ON_HOLD = "on_hold"
    CANCELED = "canceled"
    UNAUTHORIZED = "unauthorized"


class JobStatus(StrEnum):
    SUCCESS = "success"
    RUNNING = "running"
    NOT_RUN = "not_run"
    FAILED = "failed"
    RETRIED = "retried"
    QUEUED = "queued"
    NOT_RUNNING = "not_running"
    INFRASTRUCTURE_FAIL = "infrastructure_fail"
    TIMEDOUT = "timedout"
    ON_HOLD = "on_hold"
    TERMINATED_UNKNOWN = "terminated-unknown"
    BLOCKED = "blocked"
    CANCELED = "canceled"
    UNAUTHORIZED = "unauthorized"


class StepStatus(StrEnum):
    """A step's (v1.1 "action's") status."""

    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELED = "canceled"
    TIMEDOUT = "timedout"
    INFRASTRUCTURE_FAIL = "infrastructure_fail"


# Job statuses after which a job never changes again (until a rerun creates a new workflow).
FINAL_JOB_STATUSES = frozenset(
    {
        JobStatus.SUCCESS,
        JobStatus.FAILED,
        JobStatus.NOT_RUN,
        JobStatus.RETRIED,
        JobStatus.INFRASTRUCTURE_FAIL,
        JobStatus.TIMEDOUT,
        JobStatus.TERMINATED_UNKNOWN,
        JobStatus.CANCELED,
        JobStatus.UNAUTHORIZED,
    }
)

# Final statuses that count as a failure of the job (a dependant that requires success will not run).
FAILED_JOB_STATUSES = frozenset(
    {
        JobStatus.FAILED,
        JobStatus.INFRASTRUCTURE_FAIL,
        JobStatus.TIMEDOUT,
        JobStatus.TERMINATED_UNKNOWN,
    }
)

FINAL_WORKFLOW_STATUSES = frozenset(
    {
        WorkflowStatus.SUCCESS,
        WorkflowStatus.NOT_RUN,
        WorkflowStatus.FAILED,
        WorkflowStatus.ERROR,
        WorkflowStatus.CANCELED,
        WorkflowStatus.UNAUTHORIZED,
    }
)
