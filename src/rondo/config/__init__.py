"""The config compiler: `.circleci/config.yml` text -> a validated, expanded config. Pure; no I/O."""

from rondo.config.compiler import compile_config
from rondo.config.errors import ConfigError, ConfigErrors
from rondo.config.model import (
    CheckoutStep,
    CompiledConfig,
    DockerImage,
    Executor,
    Job,
    RunStep,
    Step,
    Workflow,
    WorkflowJob,
)

__all__ = [
    "CheckoutStep",
    "CompiledConfig",
    "ConfigError",
    "ConfigErrors",
    "DockerImage",
    "Executor",
    "Job",
    "RunStep",
    "Step",
    "Workflow",
    "WorkflowJob",
    "compile_config",
]
