"""Private job networks made ahead: a docker job takes a fresh network instead of waiting while one is made.

Every network serves one job and is removed once the job is over (no job ever sees another's network).
A finished job's containers are frozen at once (paused); removing them and the network, and making the
replacement, happen in the background while no job is starting containers, so the engine's time goes
first to jobs waiting to start. Networks and job containers carry the `rondo.pool` label with their
agent's identity (host, pid, process start time), so an agent that starts removes what an agent killed
on this host left behind, and leaves what live agents own alone. docker-py is synchronous: its calls
run in threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

log = logging.getLogger(__name__)

POOL_LABEL = "rondo.pool"
CLEANUP_WAIT_S = 10.0  # a finished job's containers wait this long at most for jobs that are starting


def _start_time(pid: int) -> str | None:
    """A process's start time in clock ticks since boot (/proc/<pid>/stat field 22), or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


def owner_of_this_process() -> str:
    """`host/pid/start time`: the same pid reused by another process later is another owner."""
    pid = os.getpid()
    return f"{socket.gethostname()}/{pid}/{_start_time(pid) or '-'}"


def owner_is_gone(owner: str, host: str | None = None) -> bool:
    """Whether the agent process that made a pool network has ended (only knowable on its own host)."""
    parts = owner.split("/")
    if len(parts) != 3 or parts[0] != (host or socket.gethostname()) or not parts[1].isdigit():
        return False
    started = _start_time(int(parts[1]))
    return started is None or (parts[2] != "-" and started != parts[2])


class NetworkPool:
    """Up to `size` ready bridge networks; `take()` hands out one (made on the spot if none is ready)."""

    def __init__(self, client: Any, size: int = 2, owner: str | None = None) -> None:
        self._client = client
        self._size = size
        self.owner = owner or owner_of_this_process()
        self._ready: list[Any] = []
        self._making: set[asyncio.Task[None]] = set()
        self._removing: set[asyncio.Task[None]] = set()
        self._starting_jobs = 0
        self._idle = asyncio.Event()  # no job is starting its containers
        self._idle.set()
        self._started = False  # without start() (and so close()), nothing is made ahead
        self._closed = False

    def _create(self) -> Any:
        name = f"rondo-pool-{uuid.uuid4().hex[:16]}"
        return self._client.networks.create(name, driver="bridge", labels={POOL_LABEL: self.owner})

    async def start(self) -> None:
        """Remove what dead agents of this host left, then make the pool's networks in the background."""
        await asyncio.to_thread(self.remove_stale)
        self._started = True
        self._refill()

    def remove_stale(self) -> int:
        """Remove the job containers and pool networks of agents that are gone; return how many networks."""
        for container in self._client.containers.list(all=True, filters={"label": POOL_LABEL}):
            if owner_is_gone(container.labels.get(POOL_LABEL, "")):
                with contextlib.suppress(Exception):  # gone already, or being removed by another agent
                    container.remove(force=True, v=True)
        removed = 0
        for network in self._client.networks.list(filters={"label": POOL_LABEL}):
            if not owner_is_gone(network.attrs.get("Labels", {}).get(POOL_LABEL, "")):
                continue
            try:
                network.reload()  # the list has no containers; the network's own inspect does
                for container_id in network.attrs.get("Containers") or {}:
                    with contextlib.suppress(Exception):
                        self._client.api.remove_container(container_id, force=True, v=True)
                network.remove()
                removed += 1
            except Exception as exc:  # another agent cleaning at the same moment, or the engine refusing
                log.warning("cannot remove the stale job network %s: %s", network.name, exc)
        if removed:
            log.info("removed %d job networks left by agents that are gone", removed)
        return removed

    def _refill(self) -> None:
        while self._started and not self._closed and len(self._ready) + len(self._making) < self._size:
            task = asyncio.get_running_loop().create_task(self._make_one())
            self._making.add(task)
            task.add_done_callback(self._making.discard)

    @contextlib.asynccontextmanager
    async def starting_job(self) -> AsyncIterator[None]:
        """While a job starts its containers, the pool's own work with the engine waits."""
        self._starting_jobs += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._starting_jobs -= 1
            if not self._starting_jobs:
                self._idle.set()

    async def idle(self) -> None:
        """Return once no job is starting its containers."""
        await self._idle.wait()

    async def _make_one(self) -> None:
        await self._idle.wait()
        try:
            network = await asyncio.to_thread(self._create)
        except Exception as exc:  # jobs still get a network: take() makes one itself
            log.warning("cannot make a job network ahead: %s", exc)
            return
        if self._closed:
            await asyncio.to_thread(_remove_quietly, network)
        else:
            self._ready.append(network)

    async def take(self) -> Any:
        """A network no job has used (made on the spot when none is ready); give it back with `release`."""
        if self._ready:
            network = self._ready.pop(0)
            self._refill()
            return network
        return await asyncio.to_thread(self._create)

    def release(self, network: Any, containers: list[Any]) -> None:
        """Give back a finished job's network with its containers (frozen): they are removed, and the
        network replaced, in the background, once no job is starting (or after CLEANUP_WAIT_S at most)."""
        task = asyncio.get_running_loop().create_task(self._replace(network, containers))
        self._removing.add(task)
        task.add_done_callback(self._removing.discard)

    async def _replace(self, network: Any, containers: list[Any]) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CLEANUP_WAIT_S):
                await self._idle.wait()
        await asyncio.gather(*(asyncio.to_thread(_remove_container, c) for c in containers))
        await asyncio.to_thread(_remove_quietly, network)
        self._refill()

    async def close(self) -> None:
        """Remove the networks not handed out (those still being made are removed as they arrive)."""
        self._closed = True
        while self._making or self._removing:
            await asyncio.gather(*self._making, *self._removing, return_exceptions=True)
        ready, self._ready = self._ready, []
        for network in ready:
            await asyncio.to_thread(_remove_quietly, network)


def _remove_container(container: Any) -> None:
    try:
        container.remove(force=True, v=True)
    except Exception as exc:  # the agent's next start removes it, labelled as its
        log.warning("cannot remove the job container %s: %s", container.id[:12], exc)


def _remove_quietly(network: Any) -> None:
    try:
        network.remove()
    except Exception as exc:
        log.warning("cannot remove the job network %s: %s", network.name, exc)
