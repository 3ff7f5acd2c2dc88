"""`rondo agent`: run a build agent until SIGTERM/SIGINT drains it."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from pathlib import Path

from rondo.agent.loop import AgentConfig, AgentLoop, install_signal_handlers


def run_agent(
    server: str,
    token: str,
    name: str,
    tasks: int,
    work_dir: Path,
    resource_classes: list[str],
    parent_pid: int | None = None,
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

    async def main() -> None:
        agent = AgentLoop(config)
        install_signal_handlers(agent)
        await agent.run()

    asyncio.run(main())
