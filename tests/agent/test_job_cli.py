"""The in-job `circleci` command: tests glob/split/run, env subst and step halt, as jobs use them."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import pytest

from rondo.agent.executors.machine import MachineExecutor
from rondo.agent.job_cli import env_subst, glob_files, split, split_by_timings
from rondo.agent.reporter import EventReporter
from rondo.agent.runner import run_task
from rondo.domain.agent_protocol import StepOutput
from rondo.domain.status import JobStatus
from tests.agent.test_runner import RecordingSink, run_step, task


def test_glob_matches_stars_double_stars_and_braces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("a/x_test.py", "a/b/y_test.py", "a/b/z.txt", "c/w_test.go"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x" * len(name))
    monkeypatch.chdir(tmp_path)
    assert glob_files(["a/**/*_test.py"]) == ["a/b/y_test.py", "a/x_test.py"]
    assert glob_files(["**/*_test.{py,go}", "a/*_test.py"]) == ["a/b/y_test.py", "a/x_test.py", "c/w_test.go"]


def test_split_by_name_and_by_filesize_cover_every_item_once(tmp_path: Path) -> None:
    items = [f"t{i}" for i in range(10)]
    parts = [split(items, "name", i, 3) for i in range(3)]
    assert parts[0] == ["t0", "t3", "t6", "t9"] and sorted(x for part in parts for x in part) == sorted(items)
    sizes = {"big": 100, "mid": 60, "small1": 30, "small2": 30}
    for name, size in sizes.items():
        (tmp_path / name).write_text("x" * size)
    files = [str(tmp_path / n) for n in sizes]
    assert split(files, "filesize", 0, 2) == [str(tmp_path / "big")]
    assert split(files, "filesize", 1, 2) == sorted(str(tmp_path / n) for n in ("mid", "small1", "small2"))


def test_env_subst(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAME", "rondo")
    monkeypatch.delenv("NOPE", raising=False)
    assert env_subst("hi $NAME and ${NAME}, [$NOPE]") == "hi rondo and rondo, []"


async def test_jobs_can_call_circleci_and_halt_early(tmp_path: Path) -> None:
    spec = task(
        run_step(
            "mkdir -p t && touch t/a_test.py t/b_test.py && circleci tests glob 't/*_test.py' | circleci tests split"
        ),
        run_step("echo $CIRCLE_JOB | circleci env subst && circleci-agent step halt"),
        run_step("echo never runs; exit 1"),
    )
    spec = spec.model_copy(
        update={"environment": {"CIRCLE_NODE_TOTAL": "2", "CIRCLE_NODE_INDEX": "1", "CIRCLE_JOB": "unit"}}
    )
    sink = RecordingSink()
    cancel = asyncio.Event()
    async with EventReporter(sink, spec.id, "agent-1", cancel) as reporter:
        status = await run_task(spec, MachineExecutor(tmp_path / "work"), reporter, cancel)
    out = {i: "".join(e.data for e in sink.events if isinstance(e, StepOutput) and e.step == i) for i in range(3)}
    assert status == JobStatus.SUCCESS
    assert out[0].split() == ["t/b_test.py"]
    assert "unit" in out[1]
    assert out[2] == ""


def test_the_script_runs_with_plain_python3(tmp_path: Path) -> None:
    from rondo.agent.executors.base import job_cli_script

    script = tmp_path / "circleci"
    script.write_bytes(job_cli_script())
    script.chmod(0o755)
    env = {**os.environ, "CIRCLE_NODE_TOTAL": "2", "CIRCLE_NODE_INDEX": "0"}
    done = subprocess.run([str(script), "tests", "split"], input="b\na\nc\n", capture_output=True, text=True, env=env)
    assert done.returncode == 0 and done.stdout.split() == ["a", "c"]
    halt = subprocess.run([str(script), "step", "halt"], capture_output=True, text=True, env=env)
    assert halt.returncode == 1 and "only inside a job" in halt.stderr


def test_split_by_timings_puts_the_heaviest_first_onto_the_lightest_node() -> None:
    timings = {"files": {"./tests/slow.py": 50.0, "tests/mid.py": 30.0}, "classnames": {"app.A": 1.0}}
    files = ["tests/slow.py", "tests/mid.py", "tests/new.py", "tests/tiny.py"]
    # autodetect finds file names; unknown files weigh --time-default (10 s)
    parts = [split_by_timings(files, timings, "autodetect", 10.0, i, 2) for i in range(2)]
    assert parts == [["tests/slow.py"], ["tests/mid.py", "tests/new.py", "tests/tiny.py"]]
    assert split_by_timings(["app.A", "app.B"], timings, "classname", 0.5, 0, 2) == ["app.A"]
    assert split_by_timings(["nothing/known.py"], timings, "autodetect", 10.0, 0, 2) is None
