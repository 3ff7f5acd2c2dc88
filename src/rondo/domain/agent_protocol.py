"""The agent protocol's messages (HTTP + JSON under /agent/v1), shared by the server and the agents.

A task spec is self-contained: the compiled job, its environment, where to check out, so agents never
read the database. Events flow back in sequence-numbered batches so that a retried batch is applied once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from rondo.domain.status import JobStatus, StepStatus

PROTOCOL_VERSION = "v1"

ExecutorType = Literal["machine", "docker"]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---- task spec: what the server hands an agent ------------------------------------------------


class DockerImageSpec(_Message):
    image: str
    name: str | None = None
    entrypoint: list[str] | None = None
    command: list[str] | None = None
    user: str | None = None
    environment: dict[str, str] = Field(default_factory=dict)
    auth: dict[str, str] | None = None  # registry credentials: username, password
    aws_auth: dict[str, str] | None = None  # ECR: aws_access_key_id and aws_secret_access_key, or oidc_role_arn


class ExecutorSpec(_Message):
    type: ExecutorType
    resource_class: str = "medium"
    machine_image: str | None = None
    docker: list[DockerImageSpec] = Field(default_factory=list)


class RunStepSpec(_Message):
    type: Literal["run"] = "run"
    name: str
    command: str
    shell: str | None = None
    environment: dict[str, str] = Field(default_factory=dict)
    working_directory: str | None = None
    background: bool = False
    when: Literal["on_success", "on_fail", "always"] = "on_success"
    no_output_timeout_s: float | None = None
    max_auto_reruns: int = Field(default=0, ge=0, le=5)
    auto_rerun_delay_s: float = Field(default=0.0, ge=0, le=600)


class CheckoutStepSpec(_Message):
    type: Literal["checkout"] = "checkout"
    name: str = "Checkout code"
    path: str | None = None
    when: Literal["on_success", "on_fail", "always"] = "on_success"


class BuiltinStepSpec(_Message):
    """Any other built-in step (save_cache, store_artifacts, attach_workspace, …) with its options."""

    type: Literal["builtin"] = "builtin"
    step: str  # the step type as written in the config
    name: str
    options: dict[str, Any] = Field(default_factory=dict)
    when: Literal["on_success", "on_fail", "always"] = "on_success"


StepSpec = Annotated[RunStepSpec | CheckoutStepSpec | BuiltinStepSpec, Field(discriminator="type")]


class CheckoutSpec(_Message):
    repository_url: str
    revision: str
    branch: str | None = None
    tag: str | None = None
    # SSH: the host keys the server has seen for the repository's host (a changed one is refused).
    known_hosts: str = ""


class SshKeySpec(_Message):
    """A private SSH key a job gets: the project's checkout key, or one of its additional keys.

    Opened when an agent claims the task, never stored with it; its text is among `secret_values`.
    """

    private_key: str
    fingerprint: str  # MD5, colon-hex
    sha256_fingerprint: str  # SHA256:…
    hostname: str = ""  # additional keys: the host it is for ("" for every host)


class SplitTimings(_Message):
    files: dict[str, float] = Field(default_factory=dict)
    classnames: dict[str, float] = Field(default_factory=dict)


class TaskSpec(_Message):
    id: str
    job_id: str
    job_name: str
    job_number: int
    project_slug: str
    node_index: int = 0
    node_total: int = 1
    executor: ExecutorSpec
    working_directory: str = "~/project"
    environment: dict[str, str] = Field(default_factory=dict)
    steps: list[StepSpec]
    checkout: CheckoutSpec | None = None
    no_output_timeout_s: float = 600.0
    max_time_s: float = 5 * 3600.0
    # Over an SSH repository URL, `checkout` uses the project's preferred checkout key (deploy key).
    checkout_key: SshKeySpec | None = None
    # The project's additional SSH keys, for `add_ssh_keys` steps.
    ssh_keys: list[SshKeySpec] = Field(default_factory=list)
    # Project and context variable values and private keys: the agent masks them in output (never stored
    # with the task).
    secret_values: list[str] = Field(default_factory=list)
    # Seconds per test file and class from the job's last run with test results: `--split-by=timings`.
    test_timings: SplitTimings | None = None


# ---- registration, claim, heartbeat -----------------------------------------------------------


class Capacity(_Message):
    tasks: int = Field(default=1, ge=1)
    cpus: float = Field(default=1.0, gt=0)
    memory_mb: int = Field(default=1024, gt=0)


class RegisterRequest(_Message):
    name: str = Field(min_length=1, max_length=200)
    resource_classes: list[str] = Field(default_factory=list)
    executors: list[ExecutorType] = Field(default_factory=lambda: list[ExecutorType](["machine"]))
    capacity: Capacity = Field(default_factory=Capacity)
    version: str = ""


class RegisterResponse(_Message):
    agent_id: str
    heartbeat_interval_s: float


class ClaimRequest(_Message):
    agent_id: str
    free_slots: int = Field(default=1, ge=0)
    wait_s: float = Field(default=30.0, ge=0, le=60)


class HeartbeatRequest(_Message):
    agent_id: str
    running: list[str] = Field(default_factory=list)
    # Long-poll: the server answers early when one of these tasks is canceled or the agent drained.
    wait_s: float = Field(default=0.0, ge=0, le=60)
    drain_seen: bool = False  # the drain state the agent knows; a change answers the long-poll at once


class HeartbeatResponse(_Message):
    cancel: list[str] = Field(default_factory=list)
    drain: bool = False


# ---- events: what an agent reports back -------------------------------------------------------


class StepStarted(_Message):
    type: Literal["step_started"] = "step_started"
    step: int = Field(ge=0)
    name: str
    at: datetime


class StepOutput(_Message):
    type: Literal["output"] = "output"
    step: int = Field(ge=0)
    data: str
    at: datetime


class StepFinished(_Message):
    type: Literal["step_finished"] = "step_finished"
    step: int = Field(ge=0)
    status: StepStatus
    exit_code: int | None = None
    at: datetime


class TaskFinished(_Message):
    type: Literal["task_finished"] = "task_finished"
    status: Literal[
        JobStatus.SUCCESS,
        JobStatus.FAILED,
        JobStatus.INFRASTRUCTURE_FAIL,
        JobStatus.TIMEDOUT,
        JobStatus.CANCELED,
    ]
    message: str | None = None
    at: datetime


TaskEvent = Annotated[StepStarted | StepOutput | StepFinished | TaskFinished, Field(discriminator="type")]


class EventBatch(_Message):
    agent_id: str
    seq: int = Field(ge=1, description="1, 2, 3, ... per task; a batch at or below the last applied seq is ignored")
    events: list[TaskEvent]


class EventBatchResult(_Message):
    applied: bool
    cancel: bool = False


# ---- object storage: presigned URLs for what a task saves and restores ------------------------

UploadKind = Literal["cache", "workspace", "artifacts"]
MAX_CACHE_KEY_LENGTH = 900


class UploadFile(_Message):
    path: str = Field(min_length=1, max_length=4096)  # where the artifact is listed
    size: int = Field(ge=0)


class UploadRequest(_Message):
    """Ask for upload URLs: a cache archive under `key`, a workspace layer, or a batch of artifacts."""

    agent_id: str
    kind: UploadKind
    key: str | None = Field(default=None, min_length=1, max_length=MAX_CACHE_KEY_LENGTH)
    size: int | None = Field(default=None, ge=0)
    files: list[UploadFile] = Field(default_factory=list, max_length=1000)


class PresignedUpload(_Message):
    id: str  # what the commit names
    url: str
    headers: dict[str, str] = Field(default_factory=dict)  # to send with the PUT
    path: str | None = None  # the artifact's path


class UploadGrant(_Message):
    uploads: list[PresignedUpload] = Field(default_factory=list)
    skip: str | None = None  # nothing to upload, and why (the cache key already exists)


class CommitRequest(_Message):
    """The uploads are done (`ok`), or failed and are to be forgotten."""

    agent_id: str
    kind: UploadKind
    ids: list[str] = Field(max_length=1000)
    ok: bool = True


class CommitResult(_Message):
    committed: int = 0
    message: str | None = None


class DownloadRequest(_Message):
    """Find a cache (`keys` tried in order, each as a prefix) or the workspace layers to attach."""

    agent_id: str
    kind: Literal["cache", "workspace"]
    keys: list[str] = Field(default_factory=list, max_length=50)


class PresignedDownload(_Message):
    url: str
    size: int
    key: str | None = None  # the cache key found
    build_num: int | None = None  # the job that saved the cache or persisted the layer
    job_name: str | None = None
    created_at: datetime | None = None
    # Workspace layers: the indices of earlier layers whose jobs are upstream of this layer's job.
    upstream: list[int] = Field(default_factory=list)


class DownloadGrant(_Message):
    items: list[PresignedDownload] = Field(default_factory=list)
    workspace_id: str | None = None


CaseOutcome = Literal["success", "failure", "error", "skipped"]


class CaseResult(_Message):
    classname: str = Field(max_length=65536)
    name: str = Field(max_length=65536)
    file: str | None = Field(default=None, max_length=4096)
    result: CaseOutcome
    run_time: float = Field(ge=0)
    message: str = Field(default="", max_length=65536)
    source: str = Field(default="", max_length=200)


class CaseResultsBatch(_Message):
    agent_id: str
    tests: list[CaseResult] = Field(max_length=5000)
