"""A job-private Docker engine on the agent's host: `dockerd` started for one job, stopped after it.

Each engine has its own layer store (a fresh one, or with `docker_layer_caching: true` one of the
project's kept stores), its own bridge and subnet (a slot), root remapped to an unprivileged range of
ids (`--userns-remap`) so a job's `docker run -v /:/host` cannot write the host as root, and a TCP
listener with TLS client verification on the address the job's container reaches. It stands in for
CircleCI's remote Docker VM when an engine refuses privileged docker-in-docker containers.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rondo.agent.executors.base import parse_pairs
from rondo.agent.remote_docker.slots import (
    Slot,
    SlotError,
    SlotPool,
    add_firewall_rules,
    create_bridge,
    kill_processes_using,
    remove_tree,
    try_lock,
)
from rondo.agent.remote_docker.tls import make_tls

log = logging.getLogger(__name__)

PORT = 2376  # CircleCI's remote Docker port
Output = Callable[[bytes], None]


class RemoteDockerError(Exception):
    """The job's remote Docker engine could not be started (what and why, for the step's output)."""


@dataclass(frozen=True)
class RemoteDockerSettings:
    dockerd: str = "dockerd"
    run_root: Path = Path("/run/rondo-remote-docker")  # sockets and exec roots: short paths on tmpfs
    data_dir: Path = Path("/var/lib/rondo-remote-docker")  # layer stores: per job, and kept ones per project
    subnet: str = "10.128.0.0/9"  # split into a /16 per engine running at once
    userns_remap: str = "default"  # "" runs the engine's containers as real root
    preload: tuple[tuple[str, str], ...] = ()  # development aid: (name in the engine, image of the agent's engine)
    start_timeout_s: float = 60.0
    dlc_unused_days: float = 3.0  # kept layer stores unused this long are removed


def parse_preload(text: str) -> tuple[tuple[str, str], ...]:
    """`name=local-image,…`: images copied from the agent's engine into each new remote engine."""
    return tuple(parse_pairs(text, "remote Docker preload", "name", "local-image"))


@dataclass
class RemoteEngine:
    docker_host: str
    version: str
    client_files: dict[str, bytes]
    slot: Slot
    data_root: Path
    process: asyncio.subprocess.Process | None
    kept_lock: int | None = None  # the flock on a kept (layer-caching) store
    notes: list[str] = field(default_factory=list)


def _free_port(address: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((address, 0))
        return int(probe.getsockname()[1])


def _check_reachable(path: Path) -> None:
    """With remapped ids, the engine's root is not the host's: every folder above its store must let it pass."""
    for folder in [path, *path.parents]:
        if folder.exists() and not folder.stat().st_mode & 0o001:
            raise RemoteDockerError(
                f"the remote Docker store {path} is below {folder} (mode {folder.stat().st_mode & 0o777:o}), which "
                "the engine's remapped root cannot enter: give it o+x or choose another --remote-docker-dir"
            )


def forget_networks(store: Path) -> int:
    """Drop a kept store's network records (libnetwork's local-kv.db); how many files.

    On start, an engine deletes the networks it finds recorded from its last run, and with them the
    bridge interfaces they name: those of another slot's running engine, or even the host engine's
    docker0. Layer caching keeps images and build cache, never networks, so they are forgotten.
    """
    found = list(store.glob("network/files/local-kv.db")) + list(store.glob("*/network/files/local-kv.db"))
    for path in found:
        path.unlink(missing_ok=True)
    return len(found)


class RemoteDockerHost:
    """Starts and stops job-private engines; one per agent, shared by its tasks."""

    def __init__(self, settings: RemoteDockerSettings, local_engine: Callable[[], Any]) -> None:
        self.settings = settings
        self._pool = SlotPool(settings.run_root, settings.subnet)
        self._local_engine = local_engine  # a docker-py client of the agent's own engine (for preloading)

    def clean_stale(self) -> int:
        """At agent start: remove engines, rules and bridges that killed agents left."""
        return self._pool.clean_stale()

    # kept layer stores (docker_layer_caching)

    def _kept_store(self, project: str) -> tuple[Path, int]:
        """The first of the project's kept stores no running job holds (a new one if all are held)."""
        root = self.settings.data_dir / "dlc" / hashlib.sha256(project.encode()).hexdigest()[:16]
        root.mkdir(parents=True, exist_ok=True, mode=0o711)
        for k in range(64):
            store = root / str(k)
            store.mkdir(exist_ok=True, mode=0o711)
            fd = try_lock(store / ".lock")
            if fd is not None:
                return store, fd
        raise RemoteDockerError(f"all 64 kept layer stores of {project} are in use")

    def _expire_kept_stores(self) -> None:
        cutoff = time.time() - self.settings.dlc_unused_days * 86400
        for store in (self.settings.data_dir / "dlc").glob("*/*"):
            used = store / ".last-used"
            if not used.exists() or used.stat().st_mtime >= cutoff:
                continue
            fd = try_lock(store / ".lock")
            if fd is None:
                continue  # a job is using it right now
            try:
                log.info("removing the layer store %s, unused for %g days", store, self.settings.dlc_unused_days)
                remove_tree(store)
            finally:
                os.close(fd)

    # start and stop

    async def start(self, *, job: str, project: str, address: str | None, keep_layers: bool,
                    on_output: Output) -> RemoteEngine:  # fmt: skip
        """Start an engine for `job` listening on `address` (port 2376; None: 127.0.0.1 on a free port)."""
        settings = self.settings
        try:
            slot = await asyncio.to_thread(self._pool.acquire)
        except SlotError as exc:
            raise RemoteDockerError(str(exc)) from None
        engine = RemoteEngine("", "", {}, slot, settings.data_dir / "jobs" / job, None)
        try:
            if keep_layers:
                await asyncio.to_thread(self._expire_kept_stores)
                engine.data_root, engine.kept_lock = await asyncio.to_thread(self._kept_store, project)
                reused = (engine.data_root / "engine").exists()
                await asyncio.to_thread(forget_networks, engine.data_root / "engine")
                kept = "reusing a kept layer store" if reused else "a new layer store, kept for the project's next jobs"
                engine.notes.append(f"Docker layer caching: {kept}")
            else:
                engine.data_root.mkdir(parents=True, exist_ok=True, mode=0o711)
            if settings.userns_remap:
                _check_reachable(engine.data_root)
            listen = address or "127.0.0.1"
            port = PORT if address else await asyncio.to_thread(_free_port, listen)
            tls = make_tls(listen, job)
            scratch = None if keep_layers else engine.data_root
            await asyncio.to_thread(self._prepare_slot, slot, tls.server_files(), scratch)
            engine.process = await self._spawn(slot, engine.data_root / "engine", listen, port)
            engine.docker_host = f"tcp://{listen}:{port}"
            engine.client_files = tls.client_files()
            engine.version = await self._wait_ready(engine)
            if not await asyncio.to_thread(add_firewall_rules, slot):
                engine.notes.append("Containers of this engine have no network beyond the host (no iptables)")
            if settings.preload:
                await asyncio.to_thread(self._preload, slot, on_output)
            return engine
        except BaseException:
            await asyncio.shield(self.stop(engine))
            raise

    def _prepare_slot(self, slot: Slot, server_files: dict[str, bytes], scratch: Path | None) -> None:
        slot.run_dir.mkdir(parents=True, exist_ok=True, mode=0o711)
        if scratch is not None:
            slot.scratch_list.write_text(f"{scratch}\n")
        tls_dir = slot.run_dir / "tls"
        tls_dir.mkdir(exist_ok=True, mode=0o700)
        for name, data in server_files.items():
            path = tls_dir / name
            path.write_bytes(data)
            path.chmod(0o600)
        # An empty configuration file keeps the host engine's /etc/docker/daemon.json out of this one.
        (slot.run_dir / "daemon.json").write_text("{}\n")
        try:
            create_bridge(slot)
        except SlotError as exc:
            raise RemoteDockerError(f"cannot make the engine's bridge: {exc}") from None

    async def _spawn(self, slot: Slot, data_root: Path, listen: str, port: int) -> asyncio.subprocess.Process:
        tls_dir = slot.run_dir / "tls"
        args = [
            "--config-file", str(slot.run_dir / "daemon.json"),
            "--data-root", str(data_root),
            "--exec-root", str(slot.run_dir / "exec"),
            "--pidfile", str(slot.pid_file),
            "-H", f"unix://{slot.socket}",
            "-H", f"tcp://{listen}:{port}",
            "--tlsverify",
            "--tlscacert", str(tls_dir / "ca.pem"),
            "--tlscert", str(tls_dir / "server-cert.pem"),
            "--tlskey", str(tls_dir / "server-key.pem"),
            "--bridge", slot.bridge,
            "--iptables=false", "--ip-masq=false",  # the slot's own tagged rules do this (slots.py)
            "--default-address-pool", f"base={slot.subnet},size=24",
            "--shutdown-timeout", "3",
            "--log-level", "warn",
        ]  # fmt: skip
        if self.settings.userns_remap:
            args += ["--userns-remap", self.settings.userns_remap]
        log_file = await asyncio.to_thread(open, slot.run_dir / "dockerd.log", "ab")
        try:
            return await asyncio.create_subprocess_exec(
                self.settings.dockerd, *args, stdin=asyncio.subprocess.DEVNULL, stdout=log_file,
                stderr=asyncio.subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        except FileNotFoundError:
            raise RemoteDockerError(f"cannot start a remote Docker engine: {self.settings.dockerd} not found") from None
        finally:
            log_file.close()

    async def _wait_ready(self, engine: RemoteEngine) -> str:
        import docker

        process = engine.process
        assert process is not None
        deadline = time.monotonic() + self.settings.start_timeout_s
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise RemoteDockerError(f"the remote Docker engine stopped at once:\n{self._log_tail(engine.slot)}")
            if engine.slot.socket.exists():

                def version() -> str:
                    client = docker.DockerClient(base_url=f"unix://{engine.slot.socket}", timeout=5)
                    try:
                        return str(client.version().get("Version", ""))
                    finally:
                        client.close()

                with contextlib.suppress(Exception):
                    return await asyncio.to_thread(version)
            await asyncio.sleep(0.1)
        raise RemoteDockerError(
            f"the remote Docker engine did not answer within {self.settings.start_timeout_s:g}s:\n"
            f"{self._log_tail(engine.slot)}"
        )

    @staticmethod
    def _log_tail(slot: Slot) -> str:
        try:
            return "\n".join((slot.run_dir / "dockerd.log").read_text(errors="replace").splitlines()[-10:])
        except OSError:
            return "(no log)"

    def _preload(self, slot: Slot, on_output: Output) -> None:
        """Copy the preload images from the agent's engine (a development aid where no registry answers)."""
        import docker
        from docker.utils import parse_repository_tag

        remote = docker.DockerClient(base_url=f"unix://{slot.socket}", timeout=300)
        local = self._local_engine()
        try:
            for name, image in self.settings.preload:
                try:
                    remote.images.get(name)
                    continue
                except docker.errors.ImageNotFound:
                    pass
                try:
                    remote.api.load_image(local.api.get_image(image))
                    repository, tag = parse_repository_tag(name)
                    remote.api.tag(image, repository, tag or "latest")
                except docker.errors.APIError as exc:
                    raise RemoteDockerError(f"cannot preload {name} from {image}: {exc.explanation or exc}") from None
                on_output(f"Preloaded {name} (the agent's {image})\n".encode())
        finally:
            remote.close()
            local.close()

    async def stop(self, engine: RemoteEngine) -> None:
        """Stop the engine and everything it ran; remove the job's store (a kept one stays, marked used)."""
        process = engine.process
        if process is not None and process.returncode is None:
            process.terminate()
            try:
                async with asyncio.timeout(20):
                    await process.wait()
            except TimeoutError:
                log.warning("remote docker slot %d: the engine did not stop; killing it", engine.slot.index)
        await asyncio.to_thread(kill_processes_using, engine.slot.run_dir, 2.0)
        if engine.kept_lock is not None:
            forget_networks(engine.data_root / "engine")
            (engine.data_root / ".last-used").touch()
            os.close(engine.kept_lock)
            engine.kept_lock = None
        else:
            await asyncio.to_thread(remove_tree, engine.data_root)
        await asyncio.to_thread(self._pool.release, engine.slot)


def engine_environment(engine: RemoteEngine, cert_path: str) -> dict[str, str]:
    """What the job's later steps see, as on CircleCI: the docker CLI talks to the remote engine over TLS."""
    return {"DOCKER_HOST": engine.docker_host, "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": cert_path}
