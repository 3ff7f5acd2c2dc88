"""The docker executor: steps run in the job's primary container; service containers share its network.

As on CircleCI, the first image is the primary container, kept alive for the steps (its own
entrypoint is ignored unless the config sets one); the other images are service containers in the
primary's network namespace, so they answer on localhost. Each step runs in its own process group
inside the container, so cancel and timeouts stop everything it started. The checkout is cloned on
the agent and copied in, so images need no git. Everything the job created is removed at the end.
docker-py is synchronous: its calls run in threads, and exec output is streamed through a queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import io
import logging
import os
import re
import shlex
import tarfile
import tempfile
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rondo.agent.executors.base import (
    ExecutorError,
    OutputCallback,
    StepLimits,
    StepOutcome,
    job_cli_script,
    parse_pairs,
    timings_json,
)
from rondo.agent.executors.docker_files import DockerFiles
from rondo.agent.executors.docker_helper import (
    ENGINE_DEFAULT_PATH,
    HelperVolume,
    env_of,
    helper_files,
    is_root,
    remove_stale_volumes,
    step_dir_tar,
)
from rondo.agent.executors.docker_networks import POOL_LABEL, NetworkPool, owner_of_this_process
from rondo.agent.executors.docker_warm import WARM_LABEL, PrimaryShape, WarmContainer, WarmPrimary
from rondo.agent.executors.registry_auth import pull_credentials
from rondo.agent.remote_docker.engine import RemoteDockerError, RemoteDockerHost, RemoteEngine, engine_environment
from rondo.agent.steps.ssh_keys import checkout_ssh, install_checkout_key
from rondo.domain.agent_protocol import (
    BuiltinStepSpec,
    CheckoutStepSpec,
    DockerImageSpec,
    RunStepSpec,
    StepSpec,
    TaskSpec,
)
from rondo.domain.resource_classes import size_of
from rondo.domain.status import StepStatus

log = logging.getLogger(__name__)

KILL_GRACE_S = 5.0
INLINE_SCRIPT_BYTES = 64 * 1024  # scripts below this travel in the exec's environment
STEP_DIR = "/tmp/.rondo"
KEEP_ALIVE = ["/bin/sh", "-c", "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done"]
# Runs the step's shell in its own process group (setsid) and records it, so it can be killed whole.
STEP_WRAPPER = (
    'mkdir -p "$RONDO_CWD" && cd "$RONDO_CWD" || exit 1; unset RONDO_CWD; '
    'if [ -n "${RONDO_SCRIPT+x}" ]; then printf "%s" "$RONDO_SCRIPT" > "$RONDO_SCRIPT_FILE"; unset RONDO_SCRIPT; fi; '
    'for v in $RONDO_UNSET; do unset "$v"; done; unset RONDO_UNSET; '
    'if command -v setsid >/dev/null 2>&1; then setsid "$@" & else "$@" & fi; '
    'echo $! > "$RONDO_STEP_PGID_FILE"; wait $!'
)


def parse_image_map(text: str) -> list[tuple[str, str]]:
    """`pattern=image,pattern=image` (a development aid: run config images as local ones)."""
    return parse_pairs(text, "image map", "pattern", "image")


@dataclass(frozen=True)
class DockerSettings:
    network: str = "bridge"  # "bridge": a private network per job; "host": the agent's network namespace
    image_map: list[tuple[str, str]] = field(default_factory=list)
    base_url: str | None = None  # default: DOCKER_HOST or the local socket
    ecr_endpoint: str | None = None  # an ECR-compatible endpoint instead of AWS's (a test server)
    network_pool: int = 2  # private job networks made ahead (bridge mode)
    warm_primaries: int = 2  # bridge mode: primaries like the last job's started ahead (docker_warm); 0: none

    def image(self, name: str) -> str:
        for pattern, image in self.image_map:
            if fnmatch.fnmatchcase(name, pattern):
                return image
        return name


def limits_for(resource_class: str) -> tuple[float, int]:
    """CPUs and memory for a resource class, capped at what this machine has."""
    cpus, memory_mb = size_of(resource_class)
    return min(cpus, float(os.cpu_count() or 1)), memory_mb


def _create_container(
    client: Any,
    image: str,
    spec: DockerImageSpec,
    *,
    primary: bool,
    network_mode: str,
    cpus: float,
    memory_mb: int,
    mounts: list[Any],
    labels: dict[str, str],
    hostname: str | None,
) -> Any:
    """Create (not start) one of a job's containers; a primary without its own command keeps alive."""
    entrypoint = spec.entrypoint
    command = spec.command
    if primary and entrypoint is None and command is None:
        entrypoint, command = KEEP_ALIVE[:1], KEEP_ALIVE[1:]
    host_config = client.api.create_host_config(
        network_mode=network_mode, init=True, nano_cpus=int(cpus * 1e9), mem_limit=f"{memory_mb}m", mounts=mounts
    )
    kwargs: dict[str, Any] = {
        "detach": True,
        "labels": labels,
        "environment": dict(spec.environment),
        "host_config": host_config,
    }
    if entrypoint is not None:
        kwargs["entrypoint"] = entrypoint
    if command is not None:
        kwargs["command"] = command
    if spec.user:
        kwargs["user"] = spec.user
    if hostname is not None:
        kwargs["hostname"] = hostname
    created = client.api.create_container(image, **kwargs)
    return client.containers.prepare_model({"Id": created["Id"]})


def _tar_of(files: dict[str, bytes], mode: int = 0o755) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = mode
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _tar_dir(path: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(str(path), arcname=".")
    return buf.getvalue()


class DockerTaskEnvironment:
    def __init__(
        self,
        spec: TaskSpec,
        settings: DockerSettings,
        client: Any,
        networks: NetworkPool | None = None,
        helper: HelperVolume | None = None,
        remote: RemoteDockerHost | None = None,
        warm: WarmPrimary | None = None,
    ) -> None:
        self._spec = spec
        self._settings = settings
        self._client = client
        self._networks = networks
        self._warm = warm
        self.primary_shape: PrimaryShape | None = None  # what a warm container for the next job looks like
        self._helper = helper
        self._helper_mounted = False
        self._remote_host = remote
        self._remote: RemoteEngine | None = None
        self._extra_env: dict[str, str] = {}  # what steps set up for later ones (setup_remote_docker)
        self._api = client.api
        self._label = {"rondo.task": spec.id}
        self._containers: list[Any] = []
        self._network: Any = None
        self._steps = 0
        self.primary: Any = None
        self.home = "/root"
        self.working_directory = spec.working_directory
        self.shell = "/bin/bash -eo pipefail"
        self.path = "/usr/local/bin:/usr/bin:/bin"

    async def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(fn, *args, **kwargs)

    # setup and teardown

    async def setup(self) -> None:
        images = self._spec.executor.docker
        if not images:
            raise ExecutorError("a docker job needs at least one image")
        async with self._networks.starting_job() if self._networks else contextlib.nullcontext():
            await self._setup(images)

    async def _setup(self, images: list[DockerImageSpec]) -> None:
        cpus, memory_mb = limits_for(self._spec.executor.resource_class)
        if self._settings.network != "host":
            self.primary_shape = PrimaryShape.of(images[0], self._settings.image(images[0].image), cpus, memory_mb)
        warm = await self._warm.take(self.primary_shape) if self._warm is not None else None
        if warm is not None:  # started ahead for a job like this one (docker_warm)
            self._network, self.primary, config = warm.network, warm.container, warm.config
            self._helper_mounted = warm.helper_mounted
            self._containers.append(self.primary)
        else:
            network_mode = "host"
            if self._settings.network != "host":
                self._network = await (self._networks.take() if self._networks else self._call(self._new_network))
                network_mode = self._network.name
            self.primary, config = await self._start(images[0], primary=True, network_mode=network_mode, cpus=cpus,
                                                     memory_mb=memory_mb)  # fmt: skip
        # Service containers join the primary's network namespace, so they start once it runs; meanwhile
        # the primary gets the `circleci` helper.
        shared = f"container:{self.primary.id}"
        services = [
            self._start(image, primary=False, network_mode=shared, cpus=cpus, memory_mb=memory_mb)
            for image in images[1:]
        ]
        results = await asyncio.gather(self._prepare_primary(images[0], config), *services, return_exceptions=True)
        for result in results:  # every start has ended (teardown finds each container), so failures can raise
            if isinstance(result, BaseException):
                raise result

    def _new_network(self) -> Any:
        return self._client.networks.create(f"rondo-{self._spec.id}", driver="bridge", labels=self._label)

    async def _prepare_primary(self, spec: DockerImageSpec, config: dict[str, Any]) -> None:
        """Learn HOME, PATH and the shell, and give the primary the `circleci` helper (and test timings).

        When the job runs as root, the container's configuration says HOME (else root's /root) and PATH
        (else the engine's default), a stat says whether /bin/bash exists, and the helper is the agent's
        mounted volume (or, until that is filled, one copy that makes STEP_DIR too): no exec. Another
        user's HOME comes from its passwd entry and STEP_DIR must be its own, so then a probe runs in the
        container as that user first, and the helper is copied in.
        """
        files = helper_files(job_cli_script())
        timings = timings_json(self._spec)
        if is_root(spec.user or str(config.get("User") or "")):
            env = {**env_of(config), **spec.environment}  # what the engine gives the container
            self.home = env.get("HOME") or "/root"
            self.path = env.get("PATH") or ENGINE_DEFAULT_PATH
            self.working_directory = self._expand(self._spec.working_directory)
            # With the helper volume mounted at STEP_DIR/bin, only test timings (if any) are copied.
            step_dir = step_dir_tar(STEP_DIR, {} if self._helper_mounted else files, timings)
            copied, bash = await asyncio.gather(
                self._call(self._copy_step_dir, step_dir)
                if timings or not self._helper_mounted
                else asyncio.sleep(0, True),
                self._call(self._has_file, "/bin/bash"),
            )
            if copied:
                if not bash:
                    self.shell = "/bin/sh -eo pipefail"
                return
        await self._probe()
        await self._call(self.primary.put_archive, f"{STEP_DIR}/bin", _tar_of(files))
        if timings:
            await self._call(self.primary.put_archive, STEP_DIR, _tar_of({"test-timings.json": timings}, 0o644))

    async def _probe(self) -> None:
        """HOME, PATH and the shell as the job's user sees them, and STEP_DIR made as that user."""
        probe = await self._output(
            [
                "/bin/sh",
                "-c",
                f'mkdir -p {STEP_DIR}/bin; echo "$HOME"; echo "$PATH"; test -x /bin/bash && echo bash || echo sh',
            ]
        )
        lines = probe.decode(errors="replace").split("\n")
        if lines and lines[0].startswith("/"):
            self.home = lines[0]
        self.path = lines[1] if len(lines) > 1 and lines[1] else "/usr/local/bin:/usr/bin:/bin"
        self.shell = "/bin/sh -eo pipefail" if "sh" in lines[2:3] else "/bin/bash -eo pipefail"
        self.working_directory = self._expand(self._spec.working_directory)

    def _copy_step_dir(self, data: bytes) -> bool:
        import docker.errors

        try:
            return bool(self.primary.put_archive("/tmp", data))
        except docker.errors.NotFound:  # an image without /tmp: the probe makes it
            return False

    def _has_file(self, path: str) -> bool:
        """Whether `path` exists in the primary container: a HEAD on its archive, which copies nothing."""
        # docker-py has no call for this endpoint (HEAD /containers/{id}/archive); `_url` builds its URL.
        response = self._api.head(self._api._url("/containers/{0}/archive", self.primary.id), params={"path": path})
        return bool(response.status_code == 200)

    def files(self) -> DockerFiles:
        return DockerFiles(self.primary, self.home, self.working_directory)

    async def halted(self) -> bool:
        answer = await self._output(["/bin/sh", "-c", f"test -f {STEP_DIR}/halt && echo halt"])
        return b"halt" in answer

    async def _ensure_image(self, image: str, spec: DockerImageSpec) -> dict[str, Any]:
        """Pull the image unless the engine has it; return its Config (Env, User, ...)."""
        import docker.errors

        try:
            found = await self._call(self._client.images.get, image)
            return dict(found.attrs.get("Config") or {})
        except docker.errors.ImageNotFound:
            pass
        # Registry credentials are the one place config values expand $VARS (project env vars).
        auth = await pull_credentials(spec, self._expand_vars, self._settings.ecr_endpoint)
        try:
            pulled = await self._call(self._client.images.pull, image, auth_config=auth)
        except docker.errors.APIError as exc:
            raise ExecutorError(f"cannot pull image {image}: {exc.explanation or exc}") from exc
        return dict(pulled.attrs.get("Config") or {})

    async def _start(
        self, spec: DockerImageSpec, *, primary: bool, network_mode: str, cpus: float, memory_mb: int
    ) -> tuple[Any, dict[str, Any]]:
        """Create and start one container (two calls to the engine); return it and its image's Config."""
        import docker.errors

        image = self._settings.image(spec.image)
        config = await self._ensure_image(image, spec)
        mounts = []
        if primary and self._helper is not None and is_root(spec.user or str(config.get("User") or "")):
            if self._helper.ready:
                mounts.append(self._helper.mount(f"{STEP_DIR}/bin"))
                self._helper_mounted = True
            else:
                self._helper.fill_from(image)  # for later jobs; this one gets a copy
        labels = {**self._label, POOL_LABEL: self._networks.owner} if self._networks else self._label
        hostname = (spec.name or "localhost") if primary and network_mode != "host" and self._network else None
        try:
            container = await self._call(
                _create_container, self._client, image, spec, primary=primary, network_mode=network_mode,
                cpus=cpus, memory_mb=memory_mb, mounts=mounts, labels=labels, hostname=hostname,
            )  # fmt: skip
            self._containers.append(container)
            await self._call(self._api.start, container.id)
        except docker.errors.APIError as exc:
            raise ExecutorError(f"cannot start a container from {image}: {exc.explanation or exc}") from exc
        return container, config

    async def teardown(self) -> None:
        """Remove every container and the network of the job, even when the task is being cancelled.

        A remote Docker engine (setup_remote_docker) is stopped first: it listens on the job's network.
        With a network pool, the containers are frozen now (`pause`: nothing of the job runs on, at a
        fraction of a stop's cost to the engine) and the pool removes them with the network in the
        background (see docker_networks).
        """
        if self._remote is not None and self._remote_host is not None:
            try:
                await asyncio.shield(self._remote_host.stop(self._remote))
            except Exception as exc:
                log.warning("task %s: cannot stop the remote Docker engine: %s", self._spec.id, exc)

        async def remove(container: Any) -> None:
            try:
                await self._call(container.remove, force=True, v=True)
            except Exception as exc:  # keep going: the other containers must go too
                log.warning("task %s: cannot remove container %s: %s", self._spec.id, container.id[:12], exc)

        async def freeze(container: Any) -> None:
            try:
                await self._call(container.pause)
            except Exception:  # not running (nothing to stop), or the engine cannot pause: stop it then
                with contextlib.suppress(Exception):
                    await self._call(container.kill)

        containers = list(reversed(self._containers))
        if self._network is not None and self._networks is not None:
            # Side by side; shielded, so a cancel cannot leave a process running.
            await asyncio.shield(asyncio.gather(*(freeze(c) for c in containers)))
            self._networks.release(self._network, containers)
            return
        await asyncio.shield(asyncio.gather(*(remove(c) for c in containers)))
        if self._network is not None:
            try:
                await asyncio.shield(self._call(self._network.remove))
            except Exception as exc:
                log.warning("task %s: cannot remove network %s: %s", self._spec.id, self._network.name, exc)

    # running things in the primary container

    def _expand_vars(self, text: str) -> str:
        env = self._spec.environment
        return re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: env.get(m.group(1), ""), text)

    def _expand(self, path: str) -> str:
        if path == "~" or path.startswith("~/"):
            return self.home.rstrip("/") + path[1:]
        return path if path.startswith("/") else f"{self.working_directory.rstrip('/')}/{path}"

    async def _output(self, cmd: list[str]) -> bytes:
        result = await self._call(self.primary.exec_run, cmd)
        return bytes(result.output or b"")

    async def run_step(
        self, step: StepSpec, on_output: OutputCallback, cancel: asyncio.Event, limits: StepLimits
    ) -> StepOutcome:
        if isinstance(step, BuiltinStepSpec) and step.step == "setup_remote_docker":
            return await self._setup_remote_docker(step, on_output)
        if isinstance(step, BuiltinStepSpec):
            on_output(f"The `{step.step}` step is not supported by this agent yet\n".encode())
            return StepOutcome(StepStatus.FAILED, None, f"{step.step} is not supported by this agent yet")
        if isinstance(step, CheckoutStepSpec):
            return await self._checkout(step, on_output)
        return await self._run(step, on_output, cancel, limits)

    async def _run(
        self, step: RunStepSpec, on_output: OutputCallback, cancel: asyncio.Event, limits: StepLimits
    ) -> StepOutcome:
        self._steps += 1
        n = self._steps
        script = f"{STEP_DIR}/step-{n}.sh"
        body = step.command if step.command.endswith("\n") else step.command + "\n"
        inline = len(body.encode()) < INLINE_SCRIPT_BYTES  # one round trip fewer than copying it in
        if not inline:
            await self._call(self.primary.put_archive, STEP_DIR, _tar_of({f"step-{n}.sh": body.encode()}))
        cwd = self._expand(step.working_directory) if step.working_directory else self.working_directory
        env = {
            "PATH": f"{STEP_DIR}/bin:{self.path}",
            **self._spec.environment,
            **self._extra_env,
            **step.environment,
            "CIRCLE_WORKING_DIRECTORY": self.working_directory,
            "RONDO_HALT_FILE": f"{STEP_DIR}/halt",
        }
        if self._spec.test_timings:
            env["RONDO_TEST_TIMINGS"] = f"{STEP_DIR}/test-timings.json"
        pgid_file = f"{STEP_DIR}/step-{n}.pgid"
        env["RONDO_STEP_PGID_FILE"] = pgid_file
        # An image's `environment` is for its entrypoint, not the job's steps (CONFIG-SPEC §5.2).
        image_only = [k for k in self._spec.executor.docker[0].environment if k not in env]
        env["RONDO_UNSET"] = " ".join(image_only)
        env["RONDO_CWD"] = cwd
        env["RONDO_SCRIPT_FILE"] = script
        if inline:
            env["RONDO_SCRIPT"] = body
        argv = ["/bin/sh", "-c", STEP_WRAPPER, "sh", *shlex.split(step.shell or self.shell), script]
        exec_id = await self._call(self._api.exec_create, self.primary.id, argv, environment=env)
        if step.background:
            await self._call(self._api.exec_start, exec_id["Id"], detach=True)
            on_output(b"started in the background\n")
            return StepOutcome(StepStatus.SUCCESS, 0)
        return await self._stream(exec_id["Id"], pgid_file, on_output, cancel, limits, step.no_output_timeout_s)

    async def _stream(
        self,
        exec_id: str,
        pgid_file: str,
        on_output: OutputCallback,
        cancel: asyncio.Event,
        limits: StepLimits,
        no_output_timeout_s: float | None,
    ) -> StepOutcome:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        stream = await self._call(self._api.exec_start, exec_id, stream=True)

        def pump(chunks: Iterator[bytes]) -> None:
            try:
                for chunk in chunks:
                    loop.call_soon_threadsafe(queue.put_nowait, chunk)
            except Exception:  # the connection ends when the container is killed; the exit code tells
                pass
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, None)

        threading.Thread(target=pump, args=(stream,), daemon=True).start()
        silence = no_output_timeout_s or limits.no_output_timeout_s
        deadline = loop.time() + limits.time_left_s
        canceled = asyncio.ensure_future(cancel.wait())
        try:
            while True:
                getter = asyncio.ensure_future(queue.get())
                timeout = max(min(silence, deadline - loop.time()), 0)
                done, _ = await asyncio.wait({getter, canceled}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                if getter in done:
                    chunk = getter.result()
                    if chunk is None:
                        break
                    on_output(chunk)
                    continue
                getter.cancel()
                await self._kill(pgid_file)
                if canceled in done:
                    return StepOutcome(StepStatus.CANCELED, None, "canceled")
                if loop.time() >= deadline:
                    msg = "Too long with no output (exceeded the job's time limit)"
                else:
                    msg = f"Too long with no output (exceeded {silence:g}s): context deadline exceeded"
                on_output(f"\n{msg}\n".encode())
                return StepOutcome(StepStatus.TIMEDOUT, None, msg)
        finally:
            canceled.cancel()
        info = await self._call(self._api.exec_inspect, exec_id)
        code = info.get("ExitCode")
        if code == 0:
            return StepOutcome(StepStatus.SUCCESS, 0)
        return StepOutcome(StepStatus.FAILED, code if isinstance(code, int) else 1)

    async def _kill(self, pgid_file: str) -> None:
        """TERM the step's process group in the container, then KILL what is left after a grace period."""
        quoted = shlex.quote(pgid_file)
        for sig, pause in (("TERM", KILL_GRACE_S), ("KILL", 0.0)):
            group = f"kill -{sig} -$(cat {quoted}) 2>/dev/null || kill -{sig} $(cat {quoted}) 2>/dev/null"
            await self._output(["/bin/sh", "-c", f"test -f {quoted} && {{ {group}; }}"])
            if pause:
                for _ in range(int(pause * 10)):
                    probe = f"kill -0 -$(cat {quoted}) 2>/dev/null || kill -0 $(cat {quoted}) 2>/dev/null"
                    alive = await self._output(["/bin/sh", "-c", f"{{ {probe}; }} && echo y"])
                    if not alive.strip():
                        return
                    await asyncio.sleep(0.1)

    async def _setup_remote_docker(self, step: BuiltinStepSpec, on_output: OutputCallback) -> StepOutcome:
        """A Docker engine for this job alone; later steps reach it through DOCKER_HOST over TLS."""
        if self._remote_host is None:
            msg = "this agent runs no remote Docker engines (it needs root, dockerd and --remote-docker auto or on)"
            on_output(f"{msg}\n".encode())
            return StepOutcome(StepStatus.FAILED, 1, msg)
        if self._remote is not None:
            on_output(f"A remote Docker engine is already set up: {self._remote.docker_host}\n".encode())
            return StepOutcome(StepStatus.SUCCESS, 0)
        keep_layers = step.options.get("docker_layer_caching") is True
        on_output(b"Allocating a remote Docker engine\n")
        try:
            self._remote = await self._remote_host.start(
                job=self._spec.id, project=self._spec.project_slug, address=await self._gateway(),
                keep_layers=keep_layers, on_output=on_output,
            )  # fmt: skip
        except RemoteDockerError as exc:
            on_output(f"{exc}\n".encode())
            return StepOutcome(StepStatus.INFRASTRUCTURE_FAIL, None, str(exc))
        cert_path = f"{self.home.rstrip('/')}/.docker"
        files = self.files()
        for name, data in self._remote.client_files.items():
            await files.write_file(f"{cert_path}/{name}", data, 0o600 if name == "key.pem" else 0o644)
        self._extra_env.update(engine_environment(self._remote, cert_path))
        wanted = step.options.get("version")
        for note in self._remote.notes:
            on_output(f"{note}\n".encode())
        if wanted and str(wanted) not in ("default", self._remote.version):
            on_output(f"Docker {wanted} was asked for; this agent's engine is {self._remote.version}\n".encode())
        on_output(f"Remote Docker engine created. Using version {self._remote.version}\n".encode())
        on_output(f"DOCKER_HOST={self._remote.docker_host}\n".encode())
        return StepOutcome(StepStatus.SUCCESS, 0)

    async def _gateway(self) -> str | None:
        """The host's address on the job's network (where the engine listens); None on the host's network."""
        if self._network is None:
            return None
        await self._call(self._network.reload)
        for config in self._network.attrs.get("IPAM", {}).get("Config") or []:
            gateway = str(config.get("Gateway", ""))
            if gateway and ":" not in gateway:
                return gateway
        raise ExecutorError(f"the job's network {self._network.name} has no IPv4 gateway")

    async def _checkout(self, step: CheckoutStepSpec, on_output: OutputCallback) -> StepOutcome:
        checkout = self._spec.checkout
        if checkout is None:
            on_output(b"this pipeline has no revision to check out\n")
            return StepOutcome(StepStatus.FAILED, 1)
        target = self._expand(step.path) if step.path else self.working_directory
        on_output(f"Cloning {checkout.repository_url} into {target}\n".encode())
        with (
            tempfile.TemporaryDirectory(prefix="rondo-checkout-") as tmp,
            checkout_ssh(self._spec.checkout_key, checkout.repository_url, None, checkout.known_hosts) as ssh,
        ):
            if ssh is not None:
                on_output(f"Using the project's checkout key {ssh.key.sha256_fingerprint}\n".encode())
            git_env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", **(ssh.env if ssh else {})}
            ref = checkout.revision
            switch = ["checkout", "--quiet", "-B", checkout.branch, ref] if checkout.branch else [
                "checkout", "--quiet", "--detach", ref]  # fmt: skip
            for args in (["clone", "--quiet", "--no-checkout", "--", checkout.repository_url, tmp], switch):
                proc = await asyncio.create_subprocess_exec(
                    "git", *args, cwd=tmp if args is switch else None, stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.STDOUT, env=git_env,
                )  # fmt: skip
                out, _ = await proc.communicate()
                on_output(out)
                if proc.returncode != 0:
                    return StepOutcome(StepStatus.FAILED, proc.returncode)
            if ssh is not None:
                await install_checkout_key(self.files(), ssh)
            log = await asyncio.create_subprocess_exec(
                "git", "--no-pager", "log", "--no-color", "-n", "1", "--format=HEAD is now at %h %s", cwd=tmp,
                stdout=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, _ = await log.communicate()
            data = _tar_dir(Path(tmp))
        await self._output(["/bin/sh", "-c", f"mkdir -p {shlex.quote(target)}"])
        ok = await self._call(self.primary.put_archive, target, data)
        if not ok:
            return StepOutcome(StepStatus.FAILED, 1, "cannot copy the checkout into the container")
        on_output(out)
        return StepOutcome(StepStatus.SUCCESS, 0)


class DockerExecutor:
    name = "docker"

    def __init__(self, settings: DockerSettings | None = None, remote: RemoteDockerHost | None = None) -> None:
        self._settings = settings or DockerSettings()
        self._remote = remote  # job-private engines for setup_remote_docker, when this agent offers them
        self._client: Any = None  # one engine connection for every job (made at start or first use)
        self._networks: NetworkPool | None = None
        self._helper: HelperVolume | None = None
        self._warm: WarmPrimary | None = None

    @staticmethod
    def available(base_url: str | None = None) -> bool:
        """Whether a Docker engine answers (the agent offers docker jobs only then)."""
        try:
            import docker

            client = docker.DockerClient(base_url=base_url) if base_url else docker.from_env()
            try:
                return bool(client.ping())
            finally:
                client.close()
        except Exception:
            return False

    async def _connect(self) -> Any:
        import docker

        if self._client is None:
            try:
                self._client = await asyncio.to_thread(
                    lambda: (
                        docker.DockerClient(base_url=self._settings.base_url)
                        if self._settings.base_url
                        else docker.from_env()
                    )
                )
            except Exception as exc:
                raise ExecutorError(f"cannot reach the Docker engine: {exc}") from exc
        return self._client

    async def start(self) -> None:
        """Clean up after agents killed on this host, make job networks ahead, and get the helper volume ready."""
        if self._helper is not None:
            return
        try:
            client = await self._connect()
            owner = owner_of_this_process()
            if self._settings.network != "host":
                self._networks = NetworkPool(client, self._settings.network_pool, owner)
                await self._networks.start()  # removes stale networks and their containers first
            await asyncio.to_thread(remove_stale_volumes, client)
            self._helper = HelperVolume(client, owner, helper_files(job_cli_script()))
            if self._networks is not None and self._settings.warm_primaries > 0:
                self._warm = WarmPrimary(
                    client, self._make_warm, self._discard_warm, self._networks.idle, self._settings.warm_primaries
                )
        except Exception as exc:  # jobs make their own networks and copy the helper in then
            log.warning("docker: cannot prepare ahead for jobs: %s", exc)

    async def _make_warm(self, shape: PrimaryShape) -> WarmContainer:
        assert self._networks is not None and self._client is not None
        client, networks = self._client, self._networks
        image = await asyncio.to_thread(client.images.get, shape.image)  # only images a job just used
        config = dict(image.attrs.get("Config") or {})
        spec = DockerImageSpec(image=shape.image, user=shape.user, environment=dict(shape.environment))
        helper = self._helper
        mounted = bool(helper is not None and helper.ready and is_root(shape.user or str(config.get("User") or "")))
        mounts = [helper.mount(f"{STEP_DIR}/bin")] if helper is not None and mounted else []
        network = await networks.take()
        container = None
        try:
            container = await asyncio.to_thread(
                _create_container, client, shape.image, spec, primary=True, network_mode=network.name,
                cpus=shape.cpus, memory_mb=shape.memory_mb, mounts=mounts, hostname=shape.hostname,
                labels={POOL_LABEL: networks.owner, WARM_LABEL: "1"},
            )  # fmt: skip
            await asyncio.to_thread(client.api.start, container.id)
        except BaseException:
            networks.release(network, [container] if container is not None else [])
            raise
        return WarmContainer(shape, container, network, config, str(image.id), mounted)

    async def _discard_warm(self, warm: WarmContainer) -> None:
        if self._networks is not None:
            self._networks.release(warm.network, [warm.container])

    async def close(self) -> None:
        if self._warm is not None:
            await self._warm.close()
            self._warm = None
        if self._networks is not None:
            await self._networks.close()
            self._networks = None
        if self._helper is not None:
            await self._helper.remove()
            self._helper = None
        if self._client is not None:
            await asyncio.to_thread(self._client.close)
            self._client = None

    @contextlib.asynccontextmanager
    async def prepare(self, spec: TaskSpec) -> AsyncIterator[DockerTaskEnvironment]:
        client = await self._connect()
        env = DockerTaskEnvironment(
            spec, self._settings, client, self._networks, self._helper, self._remote, self._warm
        )
        try:
            try:
                await env.setup()
            except ExecutorError:
                raise
            except Exception as exc:
                raise ExecutorError(f"cannot set up the job's containers: {exc}") from exc
            if self._warm is not None:
                self._warm.prepare(env.primary_shape)  # for the next job, once no job is starting
            yield env
        finally:
            await env.teardown()
