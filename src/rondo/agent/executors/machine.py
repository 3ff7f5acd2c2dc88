"""The machine executor: steps run on the agent's host in a fresh directory, each in its own process group.

`~` is a per-task home directory, so `working_directory: ~/project` is private to the task, and the
environment is clean: only what the job is given, never the agent's own variables. `ssh` in the job
reads the job's own `~/.ssh/config` (see `SSH_WRAPPER`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shlex
import shutil
import signal
from collections.abc import AsyncIterator
from pathlib import Path

from rondo.agent.executors.base import (
    ExecutorError,
    OutputCallback,
    StepLimits,
    StepOutcome,
    job_cli_script,
    timings_json,
)
from rondo.agent.steps.job_files import HostFiles
from rondo.agent.steps.ssh_keys import checkout_ssh, install_checkout_key
from rondo.domain.agent_protocol import BuiltinStepSpec, CheckoutStepSpec, RunStepSpec, StepSpec, TaskSpec
from rondo.domain.status import StepStatus

DEFAULT_SHELL = "/bin/bash -eo pipefail"
# ssh finds `~/.ssh` through the user's passwd entry, never $HOME; a machine job's ~ is its own folder, so
# ssh, scp and sftp are pointed at the job's `~/.ssh/config` (the checkout key, add_ssh_keys) when it has one.
SSH_WRAPPER = """#!/bin/sh
if [ -f "$HOME/.ssh/config" ]; then exec {real} -F "$HOME/.ssh/config" "$@"; fi
exec {real} "$@"
"""
KILL_GRACE_S = 5.0
READ_SIZE = 64 * 1024


def _base_environment(home: Path) -> dict[str, str]:
    try:
        user = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        user = str(os.getuid())
    return {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": str(home),
        "USER": user,
        "LOGNAME": user,
        "SHELL": "/bin/bash",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TERM": "dumb",
    }


def _expand(path: str, home: Path, working_directory: Path) -> Path:
    if path == "~" or path.startswith("~/"):
        return home / path[2:]
    candidate = Path(path)
    return candidate if candidate.is_absolute() else working_directory / candidate


def _kill_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _install_tools(bin_dir: Path) -> None:
    """The commands every machine job finds first on its PATH: `circleci`, `circleci-agent`, and the ssh
    wrappers. They are the same for every job, so the executor writes them once (read-only) and each
    job's PATH points at them."""
    tmp = bin_dir.with_name(f"{bin_dir.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    script = job_cli_script()
    for name in ("circleci", "circleci-agent"):
        (tmp / name).write_bytes(script)
    for name in ("ssh", "scp", "sftp"):
        real = shutil.which(name, path=os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"))
        if real:
            (tmp / name).write_text(SSH_WRAPPER.format(real=shlex.quote(real)))
    for path in tmp.iterdir():
        path.chmod(0o555)
    shutil.rmtree(bin_dir, ignore_errors=True)
    tmp.rename(bin_dir)


class MachineTaskEnvironment:
    def __init__(self, spec: TaskSpec, root: Path, bin_dir: Path) -> None:
        self._spec = spec
        self._root = root
        self.home = root / "home"
        self.working_directory = _expand(spec.working_directory, self.home, self.home)
        self.env = {**_base_environment(self.home), **spec.environment}
        self.env["CIRCLE_WORKING_DIRECTORY"] = str(self.working_directory)
        self.halt_file = root / "halt"
        self.env["PATH"] = f"{bin_dir}:{self.env['PATH']}"
        self.env["RONDO_HALT_FILE"] = str(self.halt_file)
        self.timings_file = root / "test-timings.json"
        if spec.test_timings:
            self.env["RONDO_TEST_TIMINGS"] = str(self.timings_file)
        self._background: list[asyncio.subprocess.Process] = []
        self._scripts = 0

    def setup(self) -> None:
        self.home.mkdir(parents=True, mode=0o700)
        self.working_directory.mkdir(parents=True, exist_ok=True)
        timings = timings_json(self._spec)
        if timings:
            self.timings_file.write_bytes(timings)

    def files(self) -> HostFiles:
        return HostFiles(self.home, self.working_directory)

    async def halted(self) -> bool:
        return self.halt_file.exists()

    async def teardown(self) -> None:
        for proc in self._background:
            if proc.returncode is None:
                await _stop(proc)
        shutil.rmtree(self._root, ignore_errors=True)

    async def run_step(
        self, step: StepSpec, on_output: OutputCallback, cancel: asyncio.Event, limits: StepLimits
    ) -> StepOutcome:
        if isinstance(step, BuiltinStepSpec) and step.step == "setup_remote_docker":
            msg = "setup_remote_docker is not compatible with the machine executor: use the machine's own Docker engine"
            on_output(f"{msg}\n".encode())
            return StepOutcome(StepStatus.FAILED, 1, msg)
        if isinstance(step, BuiltinStepSpec):
            # Storage steps (caches, workspaces, artifacts, test results) arrive with object storage.
            on_output(f"The `{step.step}` step is not supported by this agent yet\n".encode())
            return StepOutcome(StepStatus.FAILED, None, f"{step.step} is not supported by this agent yet")
        if isinstance(step, CheckoutStepSpec):
            return await self._checkout(step, on_output, cancel, limits)
        return await self._run(step, on_output, cancel, limits)

    def _script(self, command: str) -> Path:
        self._scripts += 1
        path = self._root / f"step-{self._scripts}.sh"
        path.write_text(command if command.endswith("\n") else command + "\n")
        return path

    async def _run(
        self, step: RunStepSpec, on_output: OutputCallback, cancel: asyncio.Event, limits: StepLimits
    ) -> StepOutcome:
        cwd = (
            _expand(step.working_directory, self.home, self.working_directory)
            if step.working_directory
            else (self.working_directory)
        )
        cwd.mkdir(parents=True, exist_ok=True)
        argv = [*shlex.split(step.shell or DEFAULT_SHELL), str(self._script(step.command))]
        env = {**self.env, **step.environment}
        if step.background:
            log = (self._root / f"background-{self._scripts}.log").open("wb")
            proc = await asyncio.create_subprocess_exec(
                *argv, cwd=cwd, env=env, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True,
            )  # fmt: skip
            self._background.append(proc)
            on_output(f"started in the background (pid {proc.pid})\n".encode())
            return StepOutcome(StepStatus.SUCCESS, 0)
        return await self._exec(argv, cwd, env, on_output, cancel, limits, step.no_output_timeout_s)

    async def _checkout(
        self, step: CheckoutStepSpec, on_output: OutputCallback, cancel: asyncio.Event, limits: StepLimits
    ) -> StepOutcome:
        checkout = self._spec.checkout
        if checkout is None:
            on_output(b"this pipeline has no revision to check out\n")
            return StepOutcome(StepStatus.FAILED, 1)
        target = _expand(step.path, self.home, self.working_directory) if step.path else self.working_directory
        target.mkdir(parents=True, exist_ok=True)
        ref = shlex.quote(checkout.revision)
        if checkout.branch:
            switch = f"git checkout --quiet -B {shlex.quote(checkout.branch)} {ref}"
        else:
            switch = f"git checkout --quiet --detach {ref}"
        script = "\n".join(
            [
                f"echo 'Cloning {checkout.repository_url} into {target}'",
                f"git clone --quiet --no-checkout -- {shlex.quote(checkout.repository_url)} .",
                switch,
                "git --no-pager log --no-color -n 1 --format='HEAD is now at %h %s'",
            ]
        )
        argv = ["/bin/bash", "-eo", "pipefail", str(self._script(script))]
        with checkout_ssh(self._spec.checkout_key, checkout.repository_url, self._root, checkout.known_hosts) as ssh:
            env = {**self.env, "GIT_TERMINAL_PROMPT": "0", **(ssh.env if ssh else {})}
            if ssh is not None:
                on_output(f"Using the project's checkout key {ssh.key.sha256_fingerprint}\n".encode())
            outcome = await self._exec(argv, target, env, on_output, cancel, limits, None)
            if ssh is not None and outcome.status == StepStatus.SUCCESS:
                await install_checkout_key(self.files(), ssh)
        return outcome

    async def _exec(
        self,
        argv: list[str],
        cwd: Path,
        env: dict[str, str],
        on_output: OutputCallback,
        cancel: asyncio.Event,
        limits: StepLimits,
        no_output_timeout_s: float | None,
    ) -> StepOutcome:
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, cwd=cwd, env=env, stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        except OSError as exc:
            on_output(f"cannot start {argv[0]}: {exc}\n".encode())
            return StepOutcome(StepStatus.FAILED, 127)
        assert proc.stdout is not None
        silence = no_output_timeout_s or limits.no_output_timeout_s
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limits.time_left_s
        canceled = asyncio.ensure_future(cancel.wait())
        try:
            while True:
                timeout = min(silence, deadline - loop.time())
                read = asyncio.ensure_future(proc.stdout.read(READ_SIZE))
                done, _ = await asyncio.wait(
                    {read, canceled}, timeout=max(timeout, 0), return_when=asyncio.FIRST_COMPLETED
                )
                if read in done:
                    chunk = read.result()
                    if not chunk:
                        break
                    on_output(chunk)
                    continue
                read.cancel()
                if canceled in done:
                    await _stop(proc)
                    return StepOutcome(StepStatus.CANCELED, None, "canceled")
                await _stop(proc)
                if loop.time() >= deadline:
                    msg = "Too long with no output (exceeded the job's time limit)"
                else:
                    msg = f"Too long with no output (exceeded {silence:g}s): context deadline exceeded"
                on_output(f"\n{msg}\n".encode())
                return StepOutcome(StepStatus.TIMEDOUT, None, msg)
            code = await proc.wait()
        finally:
            canceled.cancel()
            if proc.returncode is None:
                await _stop(proc)
        # A step's leftover children die with it, as they do when a CircleCI step ends.
        _kill_group(proc.pid, signal.SIGKILL)
        if code == 0:
            return StepOutcome(StepStatus.SUCCESS, 0)
        if code < 0:
            on_output(f"\nkilled by signal {-code}\n".encode())
        return StepOutcome(StepStatus.FAILED, code if code >= 0 else 128 - code)


async def _stop(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM the step's whole process group, then SIGKILL whatever is left after a grace period."""
    _kill_group(proc.pid, signal.SIGTERM)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(KILL_GRACE_S):
            await proc.wait()
    _kill_group(proc.pid, signal.SIGKILL)
    if proc.returncode is None:
        await proc.wait()


class MachineExecutor:
    name = "machine"

    def __init__(self, work_root: Path) -> None:
        self._work_root = work_root
        self._bin = work_root / "bin"
        self._bin_ready = False

    async def start(self) -> None:
        self._tools()

    async def close(self) -> None:
        return None

    def _tools(self) -> Path:
        if not self._bin_ready or not self._bin.is_dir():
            _install_tools(self._bin)
            self._bin_ready = True
        return self._bin

    @contextlib.asynccontextmanager
    async def prepare(self, spec: TaskSpec) -> AsyncIterator[MachineTaskEnvironment]:
        root = self._work_root / "tasks" / spec.id
        try:
            env = MachineTaskEnvironment(spec, root, self._tools())
            shutil.rmtree(root, ignore_errors=True)
            env.setup()
        except OSError as exc:
            raise ExecutorError(f"cannot create the job's directory {root}: {exc}") from exc
        try:
            yield env
        finally:
            await env.teardown()
