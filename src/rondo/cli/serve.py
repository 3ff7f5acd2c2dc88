"""`rondo server`: upgrade, first-start bootstrap, the ASGI server, and the built-in agent beside it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys

import uvicorn

from rondo.engine.accounts import ADMIN_TOKEN_FILE, BUILTIN_AGENT_TOKEN_FILE
from rondo.ops.data_dir_lock import DataDirBusy, serving
from rondo.server.app import build_services, create_app
from rondo.server.http_server import HttpServer
from rondo.settings import Settings
from rondo.store.migrate import upgrade

log = logging.getLogger("rondo")


def serve(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        with serving(settings.resolved_data_dir):  # `rondo restore` waits for no server: it refuses to run
            upgrade(settings.resolved_database_url)
            asyncio.run(_serve(settings))
    except DataDirBusy as exc:
        raise SystemExit(f"rondo: {exc}") from None


async def _serve(settings: Settings) -> None:
    data_dir = settings.resolved_data_dir
    services = build_services(settings)
    first = await services.accounts.first_start(data_dir)
    if first is not None:
        print(
            f"\nRondo first start: created admin user '{first.admin_login}' with API token\n\n"
            f"    {first.admin_token}\n\n(written to {data_dir / ADMIN_TOKEN_FILE}, mode 0600)\n",
            flush=True,
        )
    agent_proc = None
    if settings.builtin_agent:
        await services.accounts.builtin_agent_token(data_dir)
        agent_proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "rondo", "agent",
            "--server", settings.resolved_public_url,
            "--token-file", str(data_dir / BUILTIN_AGENT_TOKEN_FILE),
            "--name", "built-in",
            "--tasks", str(settings.builtin_agent_tasks),
            "--work-dir", str(data_dir / "agent"),
            "--parent-pid", str(os.getpid()),
        )  # fmt: skip
    config = uvicorn.Config(
        create_app(services=services),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        timeout_graceful_shutdown=5,
    )
    print(f"Rondo is serving on {settings.resolved_public_url}", flush=True)
    try:
        await HttpServer(config, services.wakeup).serve()
    finally:
        if agent_proc is not None and agent_proc.returncode is None:
            agent_proc.terminate()  # the agent drains: running jobs finish or are stopped
            try:
                await asyncio.wait_for(agent_proc.wait(), 15)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    agent_proc.kill()
