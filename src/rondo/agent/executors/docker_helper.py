"""How a docker job's primary container gets the in-job `circleci` helper and its step directory.

The helper lives in a read-only volume of the agent's, so root jobs mount it instead of copying it in.

Copying files into a container costs the engine a process of its own per copy; a volume is mounted as the
container is made. The volume holds nothing but the helper, every job gets it read-only, and it carries
the agent's `rondo.pool` owner label, so it goes when the agent stops (or, if the agent was killed, when
the next agent on the host starts). It is filled once, in the background, from the first job's image.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import logging
import tarfile
from typing import Any

from rondo.agent.executors.docker_networks import POOL_LABEL, owner_is_gone

log = logging.getLogger(__name__)

ENGINE_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # when the image sets none


def helper_files(script: bytes) -> dict[str, bytes]:
    return {"circleci": script, "circleci-agent": script}


def env_of(config: dict[str, Any]) -> dict[str, str]:
    """An image's (or container's) Config.Env as a mapping."""
    return dict(item.partition("=")[::2] for item in config.get("Env") or [])


def is_root(user: str) -> bool:
    """Whether a container's `user` (name or uid, optionally :group) is root; empty means the image's root."""
    return user.split(":", 1)[0] in ("", "root", "0")


def step_dir_tar(step_dir: str, helper: dict[str, bytes], timings: bytes | None) -> bytes:
    """The step directory (under /tmp) with the helper in bin/ (when given) and the test timings, to copy
    into /tmp in one go; its directories are root's, as a root job's `mkdir` would make them."""
    name = step_dir.removeprefix("/tmp/")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for directory in (name, f"{name}/bin") if helper else (name,):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        files = {f"{name}/bin/{n}": (data, 0o755) for n, data in helper.items()}
        if timings:
            files[f"{name}/test-timings.json"] = (timings, 0o644)
        for path, (data, mode) in files.items():
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def helper_tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class HelperVolume:
    def __init__(self, client: Any, owner: str, files: dict[str, bytes]) -> None:
        self._client = client
        self._owner = owner
        self._files = files
        digest = hashlib.sha256(f"{owner}\0".encode() + helper_tar(files)).hexdigest()[:16]
        self.name = f"rondo-helper-{digest}"
        self.ready = False
        self._filling: asyncio.Task[None] | None = None

    def fill_from(self, image: str) -> None:
        """Start filling the volume (once) with a container of `image` that never runs."""
        if self._filling is None:
            self._filling = asyncio.get_running_loop().create_task(asyncio.to_thread(self._fill, image))
            self._filling.add_done_callback(self._filled)

    def _filled(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or task.exception() is not None:
            log.warning("docker: cannot fill the helper volume (jobs copy the helper in): %s", task.exception())
            return
        self.ready = True

    def _fill(self, image: str) -> None:
        from docker.types import Mount

        api = self._client.api
        api.create_volume(self.name, labels={POOL_LABEL: self._owner})
        host_config = api.create_host_config(network_mode="none", mounts=[Mount("/helper", self.name)])
        box = api.create_container(image, command=["true"], host_config=host_config, labels={POOL_LABEL: self._owner})
        try:
            if not api.put_archive(box["Id"], "/helper", helper_tar(self._files)):
                raise RuntimeError("the engine refused the copy")
        finally:
            api.remove_container(box["Id"], force=True)

    def mount(self, target: str) -> Any:
        from docker.types import Mount

        return Mount(target, self.name, type="volume", read_only=True, no_copy=True)

    async def remove(self) -> None:
        if self._filling is not None:
            with contextlib.suppress(Exception):
                await self._filling
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self._client.api.remove_volume, self.name, True)


def remove_stale_volumes(client: Any) -> int:
    """Remove helper volumes of agents that are gone (not in use: their containers went first)."""
    removed = 0
    for volume in client.volumes.list(filters={"label": POOL_LABEL}):
        if owner_is_gone((volume.attrs.get("Labels") or {}).get(POOL_LABEL, "")):
            try:
                volume.remove(force=True)
                removed += 1
            except Exception as exc:
                log.warning("cannot remove the stale helper volume %s: %s", volume.name, exc)
    return removed
