"""A fake executor for engine tests (like Woodpecker's dummy backend): no processes, scripted outcomes.

A run step prints its command back; its environment steers it: RONDO_FAKE_EXIT_CODE (default 0),
RONDO_FAKE_SLEEP (seconds), RONDO_FAKE_OUTPUT (text printed instead of the command).
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from rondo.agent.executors.base import OutputCallback, StepLimits, StepOutcome
from rondo.agent.steps.job_files import HostFiles
from rondo.domain.agent_protocol import BuiltinStepSpec, CheckoutStepSpec, StepSpec, TaskSpec
from rondo.domain.status import StepStatus
from rondo.domain.waiting import wait_event


class FakeTaskEnvironment:
    def __init__(self, spec: TaskSpec, root: Path) -> None:
        self._spec = spec
        self._root = root

    def files(self) -> HostFiles:
        """An empty home directory: storage steps work, with nothing the fake steps made."""
        return HostFiles(self._root, self._root / "project")

    async def halted(self) -> bool:
        return False

    async def run_step(
        self, step: StepSpec, on_output: OutputCallback, cancel: asyncio.Event, limits: StepLimits
    ) -> StepOutcome:
        if isinstance(step, BuiltinStepSpec):
            # Storage steps (caches, workspaces, artifacts, test results) arrive with object storage.
            on_output(f"The `{step.step}` step is not supported by this agent yet\n".encode())
            return StepOutcome(StepStatus.FAILED, None, f"{step.step} is not supported by this agent yet")
        if isinstance(step, CheckoutStepSpec):
            revision = self._spec.checkout.revision if self._spec.checkout else "nothing"
            on_output(f"checked out {revision}\n".encode())
            return StepOutcome(StepStatus.SUCCESS, 0)
        env = {**self._spec.environment, **step.environment}
        on_output((env.get("RONDO_FAKE_OUTPUT", step.command) + "\n").encode())
        sleep = float(env.get("RONDO_FAKE_SLEEP", "0"))
        if sleep > 0 and await wait_event(cancel, min(sleep, limits.time_left_s)):
            return StepOutcome(StepStatus.CANCELED, None, "canceled")
        code = int(env.get("RONDO_FAKE_EXIT_CODE", "0"))
        return StepOutcome(StepStatus.SUCCESS if code == 0 else StepStatus.FAILED, code)


class FakeExecutor:
    name = "fake"

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    @contextlib.asynccontextmanager
    async def prepare(self, spec: TaskSpec) -> AsyncIterator[FakeTaskEnvironment]:
        with tempfile.TemporaryDirectory(prefix="rondo-fake-") as root:
            yield FakeTaskEnvironment(spec, Path(root))
