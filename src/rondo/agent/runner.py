"""Runs one task: its steps in order with CircleCI's `when` rules, time limits and cancel, reporting all."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging

from rondo.agent.client import AgentError
from rondo.agent.executors.base import (
    Executor,
    ExecutorError,
    OutputCallback,
    StepLimits,
    StepOutcome,
    TaskEnvironment,
)
from rondo.agent.reporter import EventReporter
from rondo.agent.steps.job_files import JobFilesError
from rondo.agent.steps.ssh_keys import add_ssh_keys
from rondo.agent.steps.storage import StepFailed, StorageSteps
from rondo.domain.agent_protocol import BuiltinStepSpec, StepSpec, TaskSpec
from rondo.domain.status import JobStatus, StepStatus
from rondo.domain.waiting import wait_event

log = logging.getLogger(__name__)

_JOB_STATUS = {
    StepStatus.FAILED: JobStatus.FAILED,
    StepStatus.TIMEDOUT: JobStatus.TIMEDOUT,
    StepStatus.CANCELED: JobStatus.CANCELED,
    StepStatus.INFRASTRUCTURE_FAIL: JobStatus.INFRASTRUCTURE_FAIL,
}


async def _run_step(
    env: TaskEnvironment,
    step: StepSpec,
    on_output: OutputCallback,
    cancel: asyncio.Event,
    limits: StepLimits,
    storage: StorageSteps | None,
    spec: TaskSpec,
) -> StepOutcome:
    """Storage steps run through `storage` and `add_ssh_keys` through `ssh_keys` (the same for every
    executor); others in the executor."""
    if isinstance(step, BuiltinStepSpec) and step.step == "add_ssh_keys":
        work = asyncio.ensure_future(add_ssh_keys(step, spec.ssh_keys, env.files(), on_output))
    elif storage is not None and isinstance(step, BuiltinStepSpec) and storage.handles(step):
        work = asyncio.ensure_future(storage.run(step, env.files(), on_output))
    else:
        return await env.run_step(step, on_output, cancel, limits)
    canceled = asyncio.ensure_future(cancel.wait())
    try:
        done, _ = await asyncio.wait({work, canceled}, timeout=limits.time_left_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        canceled.cancel()
    if work not in done:
        work.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await work
        if cancel.is_set():
            return StepOutcome(StepStatus.CANCELED, None, "canceled")
        on_output(b"\nToo long: exceeded the job's time limit\n")
        return StepOutcome(StepStatus.TIMEDOUT, None, "exceeded the job's time limit")
    try:
        return StepOutcome(work.result(), 0)
    except (StepFailed, AgentError, JobFilesError) as exc:
        on_output(f"Error: {exc}\n".encode())
        return StepOutcome(StepStatus.FAILED, 1, str(exc))
    except Exception as exc:  # a bug or a surprise fails the step, never the whole agent
        log.exception("the step %r crashed", step.name)
        on_output(f"Error: the step failed unexpectedly: {type(exc).__name__}: {exc}\n".encode())
        return StepOutcome(StepStatus.FAILED, 1, f"{type(exc).__name__}: {exc}")


async def run_task(
    spec: TaskSpec,
    executor: Executor,
    reporter: EventReporter,
    cancel: asyncio.Event,
    storage: StorageSteps | None = None,
) -> JobStatus:
    """Run every step that should run; report TaskFinished with the job's status, and return it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + spec.max_time_s
    status = JobStatus.SUCCESS
    message: str | None = None
    try:
        async with executor.prepare(spec) as env:
            for index, step in enumerate(spec.steps):
                failed = status != JobStatus.SUCCESS
                if cancel.is_set() or status in (JobStatus.CANCELED, JobStatus.TIMEDOUT):
                    break
                if (step.when == "on_success" and failed) or (step.when == "on_fail" and not failed):
                    continue
                reporter.step_started(index, step.name)
                limits = StepLimits(spec.no_output_timeout_s, max(deadline - loop.time(), 0.0))
                on_output = functools.partial(reporter.output, index)
                try:
                    outcome = await _run_step(env, step, on_output, cancel, limits, storage, spec)
                    reruns = getattr(step, "max_auto_reruns", None) or 0
                    attempt = 0
                    while outcome.status == StepStatus.FAILED and attempt < reruns and not cancel.is_set():
                        # `max_auto_reruns`: run a failed step again, after `auto_rerun_delay`.
                        attempt += 1
                        delay = float(getattr(step, "auto_rerun_delay_s", None) or 0.0)
                        on_output(f"\nStep failed; rerunning in {delay:g}s (attempt {attempt} of {reruns})\n".encode())
                        if delay and await wait_event(cancel, min(delay, max(deadline - loop.time(), 0.0))):
                            break
                        limits = StepLimits(spec.no_output_timeout_s, max(deadline - loop.time(), 0.0))
                        outcome = await env.run_step(step, on_output, cancel, limits)
                except ExecutorError as exc:
                    reporter.output(index, f"{exc}\n".encode())
                    await reporter.step_finished(index, StepStatus.INFRASTRUCTURE_FAIL, None)
                    status, message = JobStatus.INFRASTRUCTURE_FAIL, str(exc)
                    break
                await reporter.step_finished(index, outcome.status, outcome.exit_code)
                if outcome.status != StepStatus.SUCCESS:
                    new = _JOB_STATUS.get(outcome.status, JobStatus.FAILED)
                    if status == JobStatus.SUCCESS or new != JobStatus.FAILED:
                        status, message = new, outcome.message or message
                if outcome.status == StepStatus.SUCCESS and await env.halted():
                    break  # `circleci-agent step halt`: the job ends here, as it stands
    except ExecutorError as exc:
        log.warning("task %s: %s", spec.id, exc)
        status, message = JobStatus.INFRASTRUCTURE_FAIL, str(exc)
    if cancel.is_set() and status == JobStatus.SUCCESS:
        status = JobStatus.CANCELED
    await reporter.task_finished(status, message)
    return status
