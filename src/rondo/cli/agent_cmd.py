"""`rondo agent`: run a build agent until SIGTERM/SIGINT drains it."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
from pathlib import Path
from typing import Any

from rondo.agent.executors.base import Executor
from rondo.agent.executors.docker import DockerExecutor, DockerSettings, parse_image_map
from rondo.agent.executors.machine import MachineExecutor
from rondo.agent.loop import AgentConfig, AgentLoop, install_signal_handlers
from rondo.agent.remote_docker.engine import RemoteDockerHost, RemoteDockerSettings


def run_agent(
    server: str,
    token: str,
    name: str,
    tasks: int,
    work_dir: Path,
    resource_classes: list[str],
    parent_pid: int | None = None,
    docker: str = "auto",
    docker_network: str = "bridge",
    image_map: str = "",
    remote_docker: str = "off",
    remote_settings: RemoteDockerSettings | None = None,
    ecr_endpoint: str | None = None,
    warm_primaries: int = 2,
) -> None:
    logging.basicConfig(
        level=os.environ.get("RONDO_LOG_LEVEL", "info").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx2").setLevel(logging.WARNING)  # one line per request is noise
    config = AgentConfig(
        server_url=server,
        token=token,
        work_dir=work_dir.resolve(),
        name=name or socket.gethostname(),
        tasks=tasks,
        resource_classes=resource_classes,
        parent_pid=parent_pid,
    )

    executors: dict[str, Executor] = {"machine": MachineExecutor(config.work_dir)}
    if docker == "on" or (docker == "auto" and DockerExecutor.available()):
        try:
            settings = DockerSettings(
                network=docker_network,
                image_map=parse_image_map(image_map),
                ecr_endpoint=ecr_endpoint,
                warm_primaries=warm_primaries,
            )
        except ValueError as exc:
            raise SystemExit(f"rondo agent: --image-map: {exc}") from None
        remote = _remote_docker(remote_docker, remote_settings or RemoteDockerSettings(), settings)
        executors["docker"] = DockerExecutor(settings, remote)
        logging.getLogger(__name__).info(
            "docker jobs: on (network %s, %d warm primaries); setup_remote_docker: %s",
            docker_network,
            warm_primaries if docker_network != "host" else 0,
            "on" if remote else "off",
        )

    async def main() -> None:
        agent = AgentLoop(config, executors)
        install_signal_handlers(agent)
        await agent.run()

    asyncio.run(main())


def _remote_docker(mode: str, remote: RemoteDockerSettings, docker: DockerSettings) -> RemoteDockerHost | None:
    """Job-private engines need root (dockerd, bridges, iptables) and dockerd; `auto` offers them when both are here."""
    if mode == "off":
        return None
    usable = os.geteuid() == 0 and shutil.which(remote.dockerd) is not None and shutil.which("ip") is not None
    if not usable:
        if mode == "on":
            raise SystemExit("rondo agent: --remote-docker on needs root, dockerd and ip (iproute2) on this host")
        return None

    def local_engine() -> Any:
        import docker as docker_sdk

        return docker_sdk.DockerClient(base_url=docker.base_url) if docker.base_url else docker_sdk.from_env()

    host = RemoteDockerHost(remote, local_engine)
    cleaned = host.clean_stale()
    if cleaned:
        logging.getLogger(__name__).info("removed %d remote Docker engines that stopped agents left", cleaned)
    return host
