"""An in-process Rondo server on loopback (uvicorn in a thread) for engine tests with the fake executor."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from pathlib import Path
from typing import Any

import httpx2
import uvicorn

from rondo.engine.accounts import ADMIN_TOKEN_FILE, Accounts
from rondo.secrets.server_key import load_or_create_server_key
from rondo.server.app import build_services, create_app
from rondo.server.http_server import HttpServer
from rondo.settings import Settings
from rondo.store.db import Database
from rondo.store.migrate import upgrade


class InProcessServer:
    def __init__(self, data_dir: Path, database_url: str, **settings: Any) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.settings = Settings(
            data_dir=data_dir, database_url=database_url, port=self.port, builtin_agent=False, **settings
        )
        self.url = f"http://127.0.0.1:{self.port}"
        upgrade(database_url)
        self.admin_token, self.agent_token = asyncio.run(self._bootstrap())
        services = build_services(self.settings)
        self._server = HttpServer(
            uvicorn.Config(create_app(services=services), host="127.0.0.1", port=self.port, log_level="warning",
                           timeout_graceful_shutdown=1),
            services.wakeup,
        )  # fmt: skip
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    async def _bootstrap(self) -> tuple[str, str]:
        db = Database(self.settings.resolved_database_url)
        try:
            accounts = Accounts(db, load_or_create_server_key(self.settings.resolved_data_dir))
            first = await accounts.first_start(self.settings.resolved_data_dir)
            # A server started again on the same data dir and database (a restart) finds the first one's token.
            token_file = self.settings.resolved_data_dir / ADMIN_TOKEN_FILE
            admin_token = first.admin_token if first else token_file.read_text()
            return admin_token.strip(), await accounts.create_agent_token("test agent")
        finally:
            await db.close()

    def __enter__(self) -> InProcessServer:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("in-process server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(10)

    def open_requests(self) -> int:
        """How many requests the server is handling now (long polls included)."""
        return len(self._server.server_state.tasks)

    def api(self) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(base_url=self.url, headers={"Circle-Token": self.admin_token}, timeout=30)


async def wait_for(check: Any, limit_s: float = 30.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + limit_s
    last = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; last value: {last!r}")
