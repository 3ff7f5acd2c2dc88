"""`rondo agent`: run a build agent until SIGTERM/SIGINT drains it."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from pathlib import Path

from rondo.agent.executors.base import Executor
from rondo.agent.executors.docker import DockerExecutor, DockerSettings, parse_image_map
from rondo.agent.executors.machine import MachineExecutor
from rondo.agent.loop import AgentConfig, AgentLoop, install_signal_handlers


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
            settings = DockerSettings(network=docker_network, image_map=parse_image_map(image_map))
        except ValueError as exc:
            raise SystemExit(f"rondo agent: --image-map: {exc}") from None
        executors["docker"] = DockerExecutor(settings)
        logging.getLogger(__name__).info("docker jobs: on (network %s)", docker_network)

    async def main() -> None:
        agent = AgentLoop(config, executors)
        install_signal_handlers(agent)
        await agent.run()

    asyncio.run(main())
