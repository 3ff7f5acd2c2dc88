"""The agent masks a task's secret values in everything it reports, before the output leaves the agent."""

from __future__ import annotations

import asyncio

from rondo.agent.executors.fake import FakeExecutor
from rondo.agent.reporter import EventReporter
from rondo.agent.runner import run_task
from rondo.domain.agent_protocol import StepOutput, TaskFinished
from rondo.domain.output_masking import MASK
from rondo.domain.status import JobStatus, StepStatus
from tests.agent.test_runner import RecordingSink, run_step, task

SECRET = "s3cret-value-42"


def output_of(sink: RecordingSink, step: int = 0) -> str:
    return "".join(e.data for e in sink.events if isinstance(e, StepOutput) and e.step == step)


async def test_a_secret_split_across_output_chunks_never_leaves_the_agent() -> None:
    sink = RecordingSink()
    async with EventReporter(sink, "t", "agent-1", asyncio.Event(), secrets=[SECRET, "abc"]) as reporter:
        reporter.step_started(0, "print")
        reporter.output(0, b"deploying with s3cret-")
        await reporter.flush()  # the first half goes out on its own batch
        reporter.output(0, b"value-42 and abc\n")
        await reporter.step_finished(0, StepStatus.SUCCESS, 0)
    sent = [e.data for e in sink.events if isinstance(e, StepOutput)]
    assert len(sink.batches) >= 2
    assert all("s3cret" not in piece and "value-42" not in piece for piece in sent), sent
    # values shorter than four characters are not masked (they would hide ordinary text)
    assert output_of(sink) == f"deploying with {MASK} and abc\n"


async def test_a_secret_cut_inside_a_utf8_character_and_the_failure_message_are_masked() -> None:
    secret = "clé-privée-ü"
    raw = f"key {secret}!".encode()
    cut = raw.index("é".encode()) + 1  # between the two bytes of é
    sink = RecordingSink()
    async with EventReporter(sink, "t", "agent-1", asyncio.Event(), secrets=[secret]) as reporter:
        reporter.step_started(0, "print")
        reporter.output(0, raw[:cut])
        reporter.output(0, raw[cut:])
        await reporter.step_finished(0, StepStatus.FAILED, 1)
        await reporter.task_finished(JobStatus.FAILED, f"exit 1 while using {secret}")
    assert output_of(sink) == f"key {MASK}!"
    finished = [e for e in sink.events if isinstance(e, TaskFinished)]
    assert finished[0].message == f"exit 1 while using {MASK}"


async def test_a_job_printing_its_secret_environment_shows_it_masked() -> None:
    spec = task(run_step("print the token", RONDO_FAKE_OUTPUT=f"token={SECRET}"))
    spec = spec.model_copy(update={"secret_values": [SECRET]})
    sink = RecordingSink()
    cancel = asyncio.Event()
    async with EventReporter(sink, spec.id, "agent-1", cancel, secrets=spec.secret_values) as reporter:
        assert await run_task(spec, FakeExecutor(), reporter, cancel) == JobStatus.SUCCESS
    assert output_of(sink) == f"token={MASK}\n"
