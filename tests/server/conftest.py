"""The real app in process (ASGI transport, real database) with an administrator, a developer and no one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest

from rondo.ops.audit import SYSTEM, Origin
from rondo.server.app import build_services, create_app
from rondo.server.services import Services
from rondo.settings import Settings
from tests.conftest import make_repo

# A pipeline with one machine job that echoes: for tests about who may see or run what.
ONE_MACHINE_JOB = """\
version: 2.1
jobs:
  build:
    machine: true
    steps: [{run: echo hi}]
workflows:
  main:
    jobs: [build]
"""


@dataclass
class Clients:
    svc: Services
    admin: httpx2.AsyncClient
    developer: httpx2.AsyncClient  # a signed-up user who is not an administrator
    anonymous: httpx2.AsyncClient
    transport: httpx2.ASGITransport  # for more clients: `client()`

    def client(self, token: str | None = None) -> httpx2.AsyncClient:
        """Another client of the same app (the caller closes it), with `token` or none."""
        return _client(self.transport, token)

    async def follow(self, repo: Path, files: dict[str, str], slug: str = "gh/acme/app") -> dict[str, Any]:
        """Follow a new real git repository at `repo` with one commit of `files`; the project."""
        make_repo(repo, files)
        followed = await self.admin.post(f"/api/v2/project/{slug}", json={"vcs_url": str(repo)})
        assert followed.status_code == 201, followed.text
        return dict(followed.json())


def _client(transport: httpx2.ASGITransport, token: str | None) -> httpx2.AsyncClient:
    headers = {"Circle-Token": token} if token else {}
    return httpx2.AsyncClient(transport=transport, base_url="http://rondo.test", headers=headers)


@pytest.fixture
async def clients(tmp_path: Path, database_url: str) -> AsyncIterator[Clients]:
    """No lifespan: the server's loops (schedules, webhook sender, …) do not run; a test drives them itself."""
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, builtin_agent=False)
    svc = build_services(settings)
    first = await svc.accounts.first_start(settings.resolved_data_dir)
    assert first is not None
    _, developer_token = await svc.users.create("dev", "Developer", False, Origin(SYSTEM))
    transport = httpx2.ASGITransport(app=create_app(services=svc))
    admin, dev, anonymous = (_client(transport, token) for token in (first.admin_token, developer_token, None))
    try:
        async with admin, dev, anonymous:
            yield Clients(svc, admin, dev, anonymous, transport)
    finally:
        await svc.db.close()
