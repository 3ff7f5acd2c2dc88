"""The compiled config: jobs, their executors and steps, and workflows with their job graphs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

StepWhen = Literal["on_success", "on_fail", "always"]


@dataclass(frozen=True)
class DockerImage:
    image: str
    name: str | None = None
    entrypoint: tuple[str, ...] | None = None
    command: tuple[str, ...] | None = None
    user: str | None = None
    environment: Mapping[str, str] = field(default_factory=dict)
    auth: Mapping[str, str] | None = None  # registry username/password (may be $VARS, expanded by the agent)
    aws_auth: Mapping[str, str] | None = None  # ECR: access keys ($VARS too) or oidc_role_arn


@dataclass(frozen=True)
class Executor:
    type: Literal["machine", "docker", "macos"]
    resource_class: str = "medium"
    machine_image: str | None = None  # `machine: {image: ...}`; None for `machine: true`
    docker: tuple[DockerImage, ...] = ()
    xcode: str | None = None  # macos only
    shell: str | None = None


@dataclass(frozen=True)
class RunStep:
    command: str
    name: str  # CircleCI names an unnamed run step after its command's first line
    shell: str | None = None
    environment: Mapping[str, str] = field(default_factory=dict)
    working_directory: str | None = None
    background: bool = False
    when: StepWhen = "on_success"
    no_output_timeout_s: float | None = None
    max_auto_reruns: int = 0
    auto_rerun_delay_s: float = 0.0
    type: Literal["run"] = "run"


@dataclass(frozen=True)
class CheckoutStep:
    name: str = "Checkout code"
    path: str | None = None
    when: StepWhen = "on_success"
    type: Literal["checkout"] = "checkout"


@dataclass(frozen=True)
class BuiltinStep:
    """Any other built-in step (save_cache, store_artifacts, persist_to_workspace, …) with its options."""

    type: str
    name: str
    options: Mapping[str, object] = field(default_factory=dict)
    when: StepWhen = "on_success"


Step = RunStep | CheckoutStep | BuiltinStep


@dataclass(frozen=True)
class Job:
    name: str
    executor: Executor
    steps: tuple[Step, ...]
    environment: Mapping[str, str] = field(default_factory=dict)
    working_directory: str = "~/project"
    parallelism: int = 1
    shell: str | None = None


@dataclass(frozen=True)
class WorkflowJob:
    """One entry of a workflow's `jobs:` list."""

    name: str  # unique within the workflow: the `name:` override, else the job's name
    job: str  # the config job it runs
    # required workflow-job name -> statuses it must end in (("success",) unless the config says)
    requires: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    context: tuple[str, ...] = ()
    type: Literal["build", "approval", "no-op"] = "build"
    filters: Mapping[str, object] | str | None = None  # classic map filters or an expression
    serial_group: str | None = None


@dataclass(frozen=True)
class Workflow:
    name: str
    jobs: tuple[WorkflowJob, ...]
    triggers: tuple[Mapping[str, object], ...] = ()  # legacy scheduled workflows
    max_auto_reruns: int = 0


@dataclass(frozen=True)
class CompiledConfig:
    version: str  # "2" or "2.1" as written
    jobs: Mapping[str, Job]
    workflows: tuple[Workflow, ...]
    setup: bool = False
    parameters: Mapping[str, object] = field(default_factory=dict)  # pipeline parameters as bound
    processed: Any = None  # the ProcessedConfig it was built from

    @property
    def processed_yaml(self) -> str:
        """What `circleci config process` prints (rendered on demand: it costs more than compiling)."""
        return str(self.processed.to_yaml()) if self.processed is not None else ""
