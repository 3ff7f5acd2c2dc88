"""The config compiler: `.circleci/config.yml` text -> a validated, expanded config. Pure; no I/O."""

from rondo.config.compiler import build, compile_config
from rondo.config.errors import ConfigError, ConfigErrors
from rondo.config.filters import job_runs
from rondo.config.model import (
    BuiltinStep,
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
from rondo.config.orb_check import CheckedOrb, check_orb
from rondo.config.orbs import DirectoryOrbSource, NoOrbs, OrbNotFound, OrbRef, OrbSource, OrbVersion
from rondo.config.processor import ProcessedConfig, local_pipeline_values, process_config

__all__ = [
    "BuiltinStep",
    "CheckedOrb",
    "CheckoutStep",
    "CompiledConfig",
    "ConfigError",
    "ConfigErrors",
    "DirectoryOrbSource",
    "DockerImage",
    "Executor",
    "Job",
    "NoOrbs",
    "OrbNotFound",
    "OrbRef",
    "OrbSource",
    "OrbVersion",
    "ProcessedConfig",
    "RunStep",
    "Step",
    "Workflow",
    "WorkflowJob",
    "build",
    "check_orb",
    "compile_config",
    "job_runs",
    "local_pipeline_values",
    "process_config",
]
