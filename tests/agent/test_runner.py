"""The runner's rules (when, status, limits) on the fake executor, and the reporter's batches."""

import asyncio
from pathlib import Path

from rondo.agent.executors.fake import FakeExecutor
from rondo.agent.reporter import EventReporter
from rondo.agent.runner import run_task
from rondo.domain.agent_protocol import (
    EventBatch,
    EventBatchResult,
    StepFinished,
    StepOutput,
    StepStarted,
    TaskFinished,
    TaskSpec,
)
from rondo.domain.status import JobStatus, StepStatus


class RecordingSink:
    """Stands where the server is: keeps every batch it is sent."""

    def __init__(self, cancel_after: int | None = None) -> None:
        self.batches: list[EventBatch] = []
        self.cancel_after = cancel_after

    async def send_events(self, task_id: str, batch: EventBatch) -> EventBatchResult:
        self.batches.append(batch)
        cancel = self.cancel_after is not None and len(self.batches) >= self.cancel_after
        return EventBatchResult(applied=True, cancel=cancel)

    @property
    def events(self) -> list[object]:
        return [e for b in self.batches for e in b.events]


def task(*steps: dict[str, object]) -> TaskSpec:
    return TaskSpec.model_validate(
        {
            "id": "t",
            "job_id": "j",
            "job_name": "build",
            "job_number": 1,
            "project_slug": "gh/a/b",
            "executor": {"type": "machine"},
            "steps": list(steps),
        }
    )


def run_step(command: str, when: str = "on_success", **env: str) -> dict[str, object]:
    return {"type": "run", "name": command, "command": command, "when": when, "environment": env}


async def run(spec: TaskSpec, sink: RecordingSink) -> JobStatus:
    cancel = asyncio.Event()
    async with EventReporter(sink, spec.id, "agent-1", cancel) as reporter:
        return await run_task(spec, FakeExecutor(), reporter, cancel)


async def test_success_reports_every_step_in_order_with_contiguous_seq() -> None:
    sink = RecordingSink()
    status = await run(task(run_step("one"), run_step("two")), sink)
    assert status == JobStatus.SUCCESS
    assert [b.seq for b in sink.batches] == list(range(1, len(sink.batches) + 1))
    kinds = [(type(e).__name__, getattr(e, "step", None)) for e in sink.events]
    assert kinds == [
        ("StepStarted", 0), ("StepOutput", 0), ("StepFinished", 0),
        ("StepStarted", 1), ("StepOutput", 1), ("StepFinished", 1),
        ("TaskFinished", None),
    ]  # fmt: skip
    outputs = [e.data for e in sink.events if isinstance(e, StepOutput)]
    assert outputs == ["one\n", "two\n"]


async def test_when_rules_after_a_failure() -> None:
    sink = RecordingSink()
    status = await run(
        task(
            run_step("fails", RONDO_FAKE_EXIT_CODE="2"),
            run_step("skipped"),
            run_step("cleanup", when="always"),
            run_step("on-fail", when="on_fail"),
        ),
        sink,
    )
    assert status == JobStatus.FAILED
    started = [e.name for e in sink.events if isinstance(e, StepStarted)]
    assert started == ["fails", "cleanup", "on-fail"]
    finished = [(e.step, e.status, e.exit_code) for e in sink.events if isinstance(e, StepFinished)]
    assert finished[0] == (0, StepStatus.FAILED, 2)
    final = sink.events[-1]
    assert isinstance(final, TaskFinished) and final.status == JobStatus.FAILED


async def test_on_fail_steps_do_not_run_after_success() -> None:
    sink = RecordingSink()
    await run(task(run_step("ok"), run_step("only-on-fail", when="on_fail")), sink)
    assert [e.name for e in sink.events if isinstance(e, StepStarted)] == ["ok"]


async def test_server_side_cancel_stops_the_task() -> None:
    sink = RecordingSink(cancel_after=1)
    status = await run(task(run_step("long", RONDO_FAKE_SLEEP="30"), run_step("after")), sink)
    assert status == JobStatus.CANCELED
    assert [e.name for e in sink.events if isinstance(e, StepStarted)] == ["long"]


async def test_multibyte_output_split_across_reads_is_not_mangled() -> None:
    sink = RecordingSink()
    cancel = asyncio.Event()
    text = "héllo wörld ✓\n".encode()
    async with EventReporter(sink, "t", "a", cancel) as reporter:
        reporter.step_started(0, "s")
        for i in range(len(text)):
            reporter.output(0, text[i : i + 1])
        await reporter.step_finished(0, StepStatus.SUCCESS, 0)
    assert "".join(e.data for e in sink.events if isinstance(e, StepOutput)) == "héllo wörld ✓\n"


async def test_a_failed_step_with_max_auto_reruns_runs_again_until_it_passes(tmp_path: Path) -> None:
    from rondo.agent.executors.machine import MachineExecutor

    counter = tmp_path / "attempts"
    # Fails twice, then passes: with max_auto_reruns 3 the step (and the job) end in success.
    command = f'echo x >> {counter}; test "$(wc -l < {counter})" -ge 3'
    spec = task({**run_step(command), "max_auto_reruns": 3, "auto_rerun_delay_s": 0.1}, run_step("echo after"))
    sink = RecordingSink()
    cancel = asyncio.Event()
    async with EventReporter(sink, spec.id, "agent-1", cancel) as reporter:
        status = await run_task(spec, MachineExecutor(tmp_path / "work"), reporter, cancel)
    assert status == JobStatus.SUCCESS
    assert counter.read_text().count("x") == 3
    output = "".join(e.data for e in sink.events if isinstance(e, StepOutput) and e.step == 0)
    assert "rerunning in 0.1s (attempt 2 of 3)" in output

    counter.unlink()
    never = task({**run_step(f"echo x >> {counter}; false"), "max_auto_reruns": 2})
    async with EventReporter(RecordingSink(), never.id, "agent-1", cancel) as reporter:
        status = await run_task(never, MachineExecutor(tmp_path / "work2"), reporter, cancel)
    assert status == JobStatus.FAILED and counter.read_text().count("x") == 3
