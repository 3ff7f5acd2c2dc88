"""Runs one task: its steps in order with CircleCI's `when` rules, time limits and cancel, reporting all."""

from __future__ import annotations

import asyncio
import functools
import logging

from rondo.agent.executors.base import Executor, ExecutorError, StepLimits
from rondo.agent.reporter import EventReporter
from rondo.domain.agent_protocol import TaskSpec
from rondo.domain.status import JobStatus, StepStatus

log = logging.getLogger(__name__)

_JOB_STATUS = {
    StepStatus.FAILED: JobStatus.FAILED,
    StepStatus.TIMEDOUT: JobStatus.TIMEDOUT,
    StepStatus.CANCELED: JobStatus.CANCELED,
    StepStatus.INFRASTRUCTURE_FAIL: JobStatus.INFRASTRUCTURE_FAIL,
}


async def run_task(spec: TaskSpec, executor: Executor, reporter: EventReporter, cancel: asyncio.Event) -> JobStatus:
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
                    outcome = await env.run_step(step, on_output, cancel, limits)
                    reruns = getattr(step, "max_auto_reruns", None) or 0
                    attempt = 0
                    while outcome.status == StepStatus.FAILED and attempt < reruns and not cancel.is_set():
                        # `max_auto_reruns`: run a failed step again, after `auto_rerun_delay`.
                        attempt += 1
                        delay = float(getattr(step, "auto_rerun_delay_s", None) or 0.0)
                        on_output(f"\nStep failed; rerunning in {delay:g}s (attempt {attempt} of {reruns})\n".encode())
                        if delay:
                            try:
                                await asyncio.wait_for(cancel.wait(), min(delay, max(deadline - loop.time(), 0.0)))
                                break
                            except TimeoutError:
                                pass
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
