"""Warm primaries: containers started ahead, so the next docker jobs like the last one start at once.

Most of a docker job's start is the engine's: creating and starting the primary container, about 300 ms
on a quiet 2-core machine, most of it spent joining the job's network. Jobs of a project tend to repeat
the same primary (image, user, image `environment`, name and resource class), so after a job has
started, the agent starts containers shaped like that job's primary, each on a fresh job network made
ahead (docker_networks), and keeps them idle (the primary's keep-alive, as every primary runs). A job
whose primary has the same shape takes one; any other job starts cold, as without them. A warm container
never ran anything of another job: it serves exactly one, then goes with that job's network.

It carries the pool label, so what a killed agent leaves is removed with its networks; it is made only
while no job is starting containers, so it never slows the engine for a job that waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from rondo.domain.agent_protocol import DockerImageSpec

log = logging.getLogger(__name__)

WARM_LABEL = "rondo.warm"


@dataclass(frozen=True)
class PrimaryShape:
    """What a primary container is made with before any job's step runs in it."""

    image: str  # as the engine names it (after the image map)
    user: str | None
    environment: tuple[tuple[str, str], ...]
    hostname: str
    cpus: float
    memory_mb: int

    @classmethod
    def of(cls, spec: DockerImageSpec, image: str, cpus: float, memory_mb: int) -> PrimaryShape | None:
        """The shape of a job's primary; None when it runs its own entrypoint or command (never kept warm)."""
        if spec.entrypoint is not None or spec.command is not None:
            return None
        env = tuple(sorted(spec.environment.items()))
        return cls(image, spec.user, env, spec.name or "localhost", cpus, memory_mb)


@dataclass
class WarmContainer:
    shape: PrimaryShape
    container: Any
    network: Any
    config: dict[str, Any]  # the image's Config (Env, User, …)
    image_id: str
    helper_mounted: bool


Make = Callable[[PrimaryShape], Awaitable[WarmContainer]]
Discard = Callable[[WarmContainer], Awaitable[None]]


class WarmPrimary:
    """Up to `count` warm containers of the last job's shape; `take` hands one to a job of that shape,
    `prepare` makes them (again) in the background. Two by default: jobs that follow each other closely
    (a workflow's parallel jobs, pushes in a row) find one ready while the next one is being made."""

    def __init__(
        self, client: Any, make: Make, discard: Discard, idle: Callable[[], Awaitable[None]], count: int = 2
    ) -> None:
        self._client = client
        self._make = make
        self._discard = discard
        self._idle = idle  # returns once no job is starting containers
        self._count = count
        self._ready: list[WarmContainer] = []
        self._shape: PrimaryShape | None = None  # what the ready ones are shaped like
        self._worker: asyncio.Task[None] | None = None
        self._closed = False

    async def take(self, shape: PrimaryShape | None) -> WarmContainer | None:
        """A warm container of this shape that still runs and whose image is still what its name means."""
        while shape is not None and self._ready and self._ready[0].shape == shape:
            warm = self._ready.pop(0)
            if await asyncio.to_thread(self._usable, warm):
                return warm
            await self._discard(warm)
        return None

    def _usable(self, warm: WarmContainer) -> bool:
        try:
            warm.container.reload()
            current = self._client.images.get(warm.shape.image).id
        except Exception:  # removed behind the agent's back, or the image is gone: start cold
            return False
        return bool(warm.container.status == "running" and current == warm.image_id)

    def prepare(self, shape: PrimaryShape | None) -> None:
        """Have containers of this shape ready for the next jobs (in the background)."""
        if shape is None or self._closed or self._count <= 0:
            return
        self._shape = shape
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._work())

    async def _work(self) -> None:
        while not self._closed:
            await self._idle()
            shape = self._shape
            if shape is None:
                return
            for stale in [w for w in self._ready if w.shape != shape]:
                self._ready.remove(stale)
                await self._discard(stale)
            if len(self._ready) >= self._count:
                return
            try:
                warm = await self._make(shape)
            except Exception as exc:  # jobs start cold then
                log.warning("docker: cannot start a warm primary container of %s: %s", shape.image, exc)
                return
            if self._closed:
                await self._discard(warm)
                return
            self._ready.append(warm)

    async def close(self) -> None:
        self._closed = True
        if self._worker is not None:
            with contextlib.suppress(Exception):
                await self._worker
        ready, self._ready = self._ready, []
        for warm in ready:
            await self._discard(warm)
