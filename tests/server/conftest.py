"""The real app in process (ASGI transport, real database) with an administrator, a developer and no one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest

from rondo.secrets.tokens import USER_TOKEN_PREFIX, display_prefix, new_token, token_digest
from rondo.server.app import build_services, create_app
from rondo.server.services import Services
from rondo.settings import Settings
from rondo.store import users as user_q
from tests.conftest import make_repo


@dataclass
class Clients:
    svc: Services
    admin: httpx2.AsyncClient
    developer: httpx2.AsyncClient  # a signed-up user who is not an administrator
    anonymous: httpx2.AsyncClient

    async def follow(self, repo: Path, config: str, slug: str = "gh/acme/app") -> dict[str, Any]:
        """Follow a new real git repository at `repo` with `.circleci/config.yml` = `config`; the project."""
        make_repo(repo, {".circleci/config.yml": config})
        followed = await self.admin.post(f"/api/v2/project/{slug}", json={"vcs_url": str(repo)})
        assert followed.status_code == 201, followed.text
        return dict(followed.json())


@pytest.fixture
async def clients(tmp_path: Path, database_url: str) -> AsyncIterator[Clients]:
    """No lifespan: the server's loops (schedules, webhook sender, …) do not run; a test drives them itself."""
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, builtin_agent=False)
    svc = build_services(settings)
    first = await svc.accounts.first_start(settings.resolved_data_dir)
    assert first is not None
    developer_token = new_token(USER_TOKEN_PREFIX)
    async with svc.db.session() as session:
        user = await user_q.create_user(session, "dev", "Developer")
        await user_q.add_token(
            session,
            kind="user",
            digest=token_digest(svc.server_key, developer_token),
            display=display_prefix(developer_token),
            label="test",
            user_id=user.id,
        )
    transport = httpx2.ASGITransport(app=create_app(services=svc))

    def client(token: str | None) -> httpx2.AsyncClient:
        headers = {"Circle-Token": token} if token else {}
        return httpx2.AsyncClient(transport=transport, base_url="http://rondo.test", headers=headers)

    try:
        async with client(first.admin_token) as admin, client(developer_token) as dev, client(None) as anonymous:
            yield Clients(svc, admin, dev, anonymous)
    finally:
        await svc.db.close()
