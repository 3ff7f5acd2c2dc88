"""What every executor offers the runner: a per-task environment that runs one step at a time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from rondo.agent.steps.job_files import JobFiles
from rondo.domain.agent_protocol import StepSpec, TaskSpec
from rondo.domain.status import StepStatus

OutputCallback = Callable[[bytes], None]


class ExecutorError(Exception):
    """The executor could not prepare or tear down the job's environment (an infrastructure failure)."""


@dataclass(frozen=True)
class StepOutcome:
    status: StepStatus
    exit_code: int | None = None
    message: str | None = None  # why, when it is not the step's own doing (timeout, cancel)


@dataclass(frozen=True)
class StepLimits:
    no_output_timeout_s: float
    time_left_s: float  # until the job's overall time limit


class TaskEnvironment(Protocol):
    async def run_step(
        self, step: StepSpec, on_output: OutputCallback, cancel: asyncio.Event, limits: StepLimits
    ) -> StepOutcome: ...

    async def halted(self) -> bool:
        """Whether a step ran `circleci-agent step halt`: the job ends now, successful."""
        ...

    def files(self) -> JobFiles:
        """The job's files, for the storage steps (caches, workspaces, artifacts, test results)."""
        ...


def parse_pairs(text: str, what: str, left: str, right: str) -> list[tuple[str, str]]:
    """`left=right,left=right` settings (image maps, preloads); ValueError names the bad entry."""
    pairs = []
    for item in text.split(","):
        if item.strip():
            key, sep, value = item.partition("=")
            if not sep or not key.strip() or not value.strip():
                raise ValueError(f"{what} entry '{item}' is not {left}={right}")
            pairs.append((key.strip(), value.strip()))
    return pairs


def timings_json(spec: TaskSpec) -> bytes | None:
    """The past test timings `circleci tests split --split-by=timings` reads (RONDO_TEST_TIMINGS)."""
    return spec.test_timings.model_dump_json().encode() if spec.test_timings else None


def job_cli_script() -> bytes:
    """The in-job `circleci` command (rondo.agent.job_cli) as an executable python3 script."""
    source = Path(__file__).resolve().parents[1] / "job_cli.py"
    return b"#!/usr/bin/env python3\n" + source.read_bytes()


class Executor(Protocol):
    name: str

    async def start(self) -> None:
        """Get ready before the agent claims work (the docker executor makes job networks ahead)."""
        ...

    async def close(self) -> None:
        """Release what the executor holds when the agent stops."""
        ...

    def prepare(self, spec: TaskSpec) -> AbstractAsyncContextManager[TaskEnvironment]:
        """Set up the job's environment; leaving the context tears everything down, whatever happened."""
        ...
