"""/api/v2/orbs on the real app (in process, real database): reading, publishing, who may publish."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest

from rondo.secrets.tokens import USER_TOKEN_PREFIX, display_prefix, new_token, token_digest
from rondo.server.app import build_services, create_app
from rondo.settings import Settings
from rondo.store import users as user_q
from rondo.store.migrate import upgrade
from tests.conftest import SHARED

NODE = SHARED / "corpus" / "orbs" / "circleci"


@dataclass
class Clients:
    admin: httpx2.AsyncClient
    developer: httpx2.AsyncClient  # a signed-up user who is not an administrator
    anonymous: httpx2.AsyncClient


@pytest.fixture
async def clients(tmp_path: Path, database_url: str) -> AsyncIterator[Clients]:
    upgrade(database_url)
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

    async with client(first.admin_token) as admin, client(developer_token) as dev, client(None) as anonymous:
        yield Clients(admin, dev, anonymous)
    await svc.db.close()


def node(version: str) -> str:
    return (NODE / f"node@{version}.yml").read_text()


async def publish(api: httpx2.AsyncClient, version: str, source: str) -> httpx2.Response:
    return await api.post("/api/v2/orbs/circleci/node", json={"version": version, "source": source})


async def test_publish_list_and_read(clients: Clients) -> None:
    for version in ("5.0.0", "5.0.2", "7.2.1"):
        resp = await publish(clients.admin, version, node(version))
        assert resp.status_code == 201, resp.text
    body = resp.json()
    assert (body["name"], body["version"], body["source"]) == ("circleci/node", "7.2.1", node("7.2.1"))
    assert len(body["digest"]) == 64 and body["created_at"].endswith("Z")
    assert (await publish(clients.admin, "dev:alpha", node("5.0.0"))).status_code == 201

    listed = (await clients.developer.get("/api/v2/orbs")).json()
    assert listed == {
        "items": [
            {
                "name": "circleci/node",
                "versions": ["5.0.0", "5.0.2", "7.2.1", "dev:alpha"],
                "latest": "7.2.1",
                "private": False,
                "listed": True,
            }
        ],
        "next_page_token": None,
    }
    one = await clients.developer.get("/api/v2/orbs/circleci/node")
    assert one.status_code == 200 and one.json() == listed["items"][0]

    for wanted, resolved in (("5", "5.0.2"), ("5.0.0", "5.0.0"), ("volatile", "7.2.1"), ("dev:alpha", "dev:alpha")):
        resp = await clients.developer.get(f"/api/v2/orbs/circleci/node/{wanted}")
        assert resp.status_code == 200, resp.text
        assert resp.json()["version"] == resolved
    assert (await clients.developer.get("/api/v2/orbs/circleci/node/5")).json()["source"] == node("5.0.2")


async def test_not_found_answers_in_the_registry_words(clients: Clients) -> None:
    assert (await publish(clients.admin, "5.0.0", node("5.0.0"))).status_code == 201
    cases = {
        "/api/v2/orbs/circleci/nope": "Orb circleci/nope does not exist or is private.",
        "/api/v2/orbs/circleci/nope/1.0.0": "Orb circleci/nope does not exist or is private.",
        "/api/v2/orbs/circleci/node/6": "Unknown version 6 for orb circleci/node",
        "/api/v2/orbs/circleci/node/dev:beta": "Unknown version dev:beta for orb circleci/node",
    }
    for path, message in cases.items():
        resp = await clients.admin.get(path)
        assert (resp.status_code, resp.json()) == (404, {"message": message}), path


async def test_publishing_is_checked(clients: Clients) -> None:
    assert (await publish(clients.admin, "5.0.0", node("5.0.0"))).status_code == 201

    again = await publish(clients.admin, "5.0.0", node("5.0.2"))
    assert again.status_code == 409
    assert "already published" in again.json()["message"]

    ranged = await publish(clients.admin, "5", node("5.0.0"))
    assert ranged.status_code == 400 and "not exact" in ranged.json()["message"]

    not_an_orb = await publish(clients.admin, "6.0.0", "version: 2.1\nworkflows: {}\n")
    assert not_an_orb.status_code == 400
    assert "unknown top-level keys workflows" in not_an_orb.json()["message"]

    bad_name = await clients.admin.post("/api/v2/orbs/CircleCI/node", json={"version": "1.0.0", "source": "x: 1"})
    assert bad_name.status_code == 400 and "namespace/name@version" in bad_name.json()["message"]

    assert (await clients.admin.get("/api/v2/orbs/circleci/node")).json()["versions"] == ["5.0.0"]


async def test_only_admins_publish_and_only_users_read(clients: Clients) -> None:
    denied = await publish(clients.developer, "5.0.0", node("5.0.0"))
    assert (denied.status_code, denied.json()) == (403, {"message": "Only administrators can do this."})

    for path in ("/api/v2/orbs", "/api/v2/orbs/circleci/node", "/api/v2/orbs/circleci/node/5"):
        resp = await clients.anonymous.get(path)
        assert (resp.status_code, resp.json()) == (401, {"message": "You must log in first."}), path
    assert (await publish(clients.anonymous, "5.0.0", node("5.0.0"))).status_code == 401
    assert (await clients.admin.get("/api/v2/orbs")).json()["items"] == []
