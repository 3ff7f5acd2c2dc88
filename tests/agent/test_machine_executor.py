"""The machine executor runs real processes: output, exit codes, timeouts, cancel, clean env, checkout."""

import asyncio
import os
import shutil
import time
from pathlib import Path

import pytest

from rondo.agent.executors.base import StepLimits, StepOutcome
from rondo.agent.executors.machine import MachineExecutor, MachineTaskEnvironment
from rondo.domain.agent_protocol import CheckoutStepSpec, RunStepSpec, TaskSpec
from rondo.domain.status import StepStatus
from tests.conftest import commit_files, git, make_repo


def process_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie waiting to be reaped."""
    status = Path(f"/proc/{pid}/status")
    try:
        return "zombie" not in status.read_text().lower()
    except FileNotFoundError:
        return False


LIMITS = StepLimits(no_output_timeout_s=60, time_left_s=600)


def spec(checkout: dict[str, str] | None = None, env: dict[str, str] | None = None) -> TaskSpec:
    return TaskSpec.model_validate(
        {
            "id": "task-1",
            "job_id": "job-1",
            "job_name": "build",
            "job_number": 7,
            "project_slug": "gh/acme/app",
            "executor": {"type": "machine"},
            "environment": env or {"CI": "true", "GREETING": "hi"},
            "steps": [],
            "checkout": checkout,
        }
    )


async def run(
    env: MachineTaskEnvironment, command: str, limits: StepLimits = LIMITS, **kw: object
) -> tuple[StepOutcome, str]:
    chunks: list[bytes] = []
    step = RunStepSpec(name="s", command=command, **kw)  # type: ignore[arg-type]
    outcome = await env.run_step(step, chunks.append, asyncio.Event(), limits)
    return outcome, b"".join(chunks).decode()


async def test_output_is_complete_and_in_order(tmp_path: Path) -> None:
    async with MachineExecutor(tmp_path).prepare(spec()) as env:
        outcome, out = await run(env, "for i in $(seq 1 10000); do echo line $i; done")
    assert outcome == StepOutcome(StepStatus.SUCCESS, 0)
    assert out.splitlines() == [f"line {i}" for i in range(1, 10001)]


async def test_failure_exit_code_and_pipefail(tmp_path: Path) -> None:
    async with MachineExecutor(tmp_path).prepare(spec()) as env:
        outcome, _ = await run(env, "echo before; exit 3")
        assert (outcome.status, outcome.exit_code) == (StepStatus.FAILED, 3)
        outcome, out = await run(env, "false | cat\necho not reached")
        assert outcome.status == StepStatus.FAILED and "not reached" not in out  # -eo pipefail, as CircleCI


async def test_environment_is_clean_home_is_private_and_dirs_exist(tmp_path: Path) -> None:
    os.environ["RONDO_AGENT_SECRET_FOR_TEST"] = "leak"
    try:
        async with MachineExecutor(tmp_path / "w").prepare(spec()) as env:
            _, out = await run(
                env,
                'echo "[$RONDO_AGENT_SECRET_FOR_TEST] $GREETING $HOME $PWD $STEPVAR"',
                environment={"STEPVAR": "sv"},
            )
            home = env.home
    finally:
        del os.environ["RONDO_AGENT_SECRET_FOR_TEST"]
    assert out.strip() == f"[] hi {home} {home}/project sv"
    assert not home.exists()  # the task's directory is removed at the end


async def test_job_commands_are_installed_once_read_only_and_again_when_removed(tmp_path: Path) -> None:
    executor = MachineExecutor(tmp_path / "w")
    await executor.start()
    tools = tmp_path / "w" / "bin"
    assert (tools / "circleci").stat().st_mode & 0o777 == 0o555
    for _ in range(2):
        async with executor.prepare(spec()) as env:
            outcome, out = await run(env, "command -v circleci circleci-agent; circleci env subst <<< '$GREETING'")
        assert outcome.status == StepStatus.SUCCESS, out
        assert out.splitlines() == [str(tools / "circleci"), str(tools / "circleci-agent"), "hi"]
        shutil.rmtree(tools)  # an operator cleaning the work directory: the next job gets them back


async def test_no_output_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    marker = tmp_path / "child.pid"
    async with MachineExecutor(tmp_path / "w").prepare(spec()) as env:
        started = time.monotonic()
        outcome, out = await run(env, f"sleep 300 & echo $! > {marker}; wait", limits=StepLimits(1.0, 600))
    assert outcome.status == StepStatus.TIMEDOUT
    assert "Too long with no output" in out
    assert time.monotonic() - started < 30
    child = int(marker.read_text())
    await asyncio.sleep(0.2)
    assert not process_alive(child)


async def test_cancel_stops_a_running_step_quickly(tmp_path: Path) -> None:
    cancel = asyncio.Event()
    async with MachineExecutor(tmp_path).prepare(spec()) as env:
        step = RunStepSpec(name="s", command="echo started; sleep 300")
        run_task = asyncio.create_task(env.run_step(step, lambda _: None, cancel, LIMITS))
        await asyncio.sleep(0.5)
        started = time.monotonic()
        cancel.set()
        outcome = await run_task
    assert outcome.status == StepStatus.CANCELED
    assert time.monotonic() - started < 2


async def test_background_step_is_killed_when_the_task_ends(tmp_path: Path) -> None:
    pid_file = tmp_path / "bg.pid"
    async with MachineExecutor(tmp_path / "w").prepare(spec()) as env:
        outcome, _ = await run(env, f"echo $$ > {pid_file}; sleep 300", background=True)
        assert outcome.status == StepStatus.SUCCESS
        for _ in range(50):
            if pid_file.exists() and pid_file.read_text().strip():
                break
            await asyncio.sleep(0.05)
    pid = int(pid_file.read_text())
    assert not process_alive(pid)


async def test_checkout_clones_the_revision_on_its_branch(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"a.txt": "first\n"})
    first = git(repo, "rev-parse", "HEAD")
    commit_files(repo, {"a.txt": "second\n"}, "second")
    checkout = {"repository_url": str(repo), "revision": first, "branch": "main"}
    async with MachineExecutor(tmp_path / "w").prepare(spec(checkout)) as env:
        chunks: list[bytes] = []
        outcome = await env.run_step(CheckoutStepSpec(), chunks.append, asyncio.Event(), LIMITS)
        assert outcome.status == StepStatus.SUCCESS, b"".join(chunks)
        assert (env.working_directory / "a.txt").read_text() == "first\n"
        _, out = await run(env, "git rev-parse HEAD; git rev-parse --abbrev-ref HEAD")
    assert out.split() == [first, "main"]


async def test_checkout_of_a_missing_revision_fails_the_step(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"a.txt": "x"})
    checkout = {"repository_url": str(repo), "revision": "0" * 40, "branch": "main"}
    async with MachineExecutor(tmp_path / "w").prepare(spec(checkout)) as env:
        outcome = await env.run_step(CheckoutStepSpec(), lambda _: None, asyncio.Event(), LIMITS)
    assert outcome.status == StepStatus.FAILED


@pytest.mark.parametrize("shell", ["/bin/sh -e", "python3"])
async def test_custom_shell(tmp_path: Path, shell: str) -> None:
    command = "echo from sh" if shell.startswith("/bin/sh") else "print('from python')"
    async with MachineExecutor(tmp_path).prepare(spec()) as env:
        outcome, out = await run(env, command, shell=shell)
    assert outcome.status == StepStatus.SUCCESS and out.startswith("from ")
