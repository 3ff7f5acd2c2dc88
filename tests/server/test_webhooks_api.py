"""/api/v2/webhook on the real app (in process, SQLite and PostgreSQL): CRUD, the secret kept sealed, refusals."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from sqlalchemy import select

from rondo.secrets.envelope import Sealed, webhook_secret_aad
from rondo.secrets.tokens import USER_TOKEN_PREFIX, display_prefix, new_token, token_digest
from rondo.server.app import build_services, create_app
from rondo.server.services import Services
from rondo.settings import Settings
from rondo.store import users as user_q
from rondo.store.migrate import upgrade
from rondo.store.models import AuditEvent, Webhook
from tests.conftest import make_repo

SECRET = "s3cr3t-signing-key"
HOOKS = "/api/v2/webhook"


@dataclass
class Api:
    svc: Services
    admin: httpx2.AsyncClient
    developer: httpx2.AsyncClient  # a second, non-admin user
    anonymous: httpx2.AsyncClient
    project_id: str


@pytest.fixture
async def api(tmp_path: Path, database_url: str) -> AsyncIterator[Api]:
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
    transport = httpx2.ASGITransport(app=create_app(services=svc))  # no lifespan: nothing is sent here

    def client(token: str | None) -> httpx2.AsyncClient:
        headers = {"Circle-Token": token} if token else {}
        return httpx2.AsyncClient(transport=transport, base_url="http://rondo.test", headers=headers)

    async with client(first.admin_token) as admin, client(developer_token) as dev, client(None) as anonymous:
        repo = make_repo(tmp_path / "repo", {".circleci/config.yml": "version: 2.1\n"})
        followed = await admin.post("/api/v2/project/gh/acme/app", json={"vcs_url": str(repo)})
        assert followed.status_code == 201, followed.text
        yield Api(svc, admin, dev, anonymous, followed.json()["id"])
    await svc.db.close()


def hook(project_id: str, name: str = "build events", **overrides: Any) -> dict[str, Any]:
    body = {
        "name": name,
        "events": ["workflow-completed", "job-completed"],
        "url": "https://hooks.example.com/circleci?token=abc",
        "verify-tls": True,
        "signing-secret": SECRET,
        "scope": {"id": project_id, "type": "project"},
    }
    return {**body, **overrides}


async def stored(svc: Services) -> list[Webhook]:
    async with svc.db.session() as session:
        return list((await session.execute(select(Webhook))).scalars())


async def test_create_read_list_change_delete(api: Api) -> None:
    created = await api.developer.post(HOOKS, json=hook(api.project_id))
    assert created.status_code == 201, created.text
    body = created.json()
    assert set(body) == {
        "id",
        "scope",
        "name",
        "events",
        "url",
        "verify-tls",
        "signing-secret",
        "created-at",
        "updated-at",
    }
    assert {k: body[k] for k in ("scope", "name", "events", "url", "verify-tls")} == {
        "scope": {"id": api.project_id, "type": "project"},
        "name": "build events",
        "events": ["workflow-completed", "job-completed"],
        "url": "https://hooks.example.com/circleci?token=abc",
        "verify-tls": True,
    }
    assert body["signing-secret"] == "xxxx" + SECRET[-4:]  # masked, as CircleCI answers it
    assert body["created-at"].endswith("Z") and body["created-at"] == body["updated-at"]

    assert (await api.admin.get(f"{HOOKS}/{body['id']}")).json() == body
    listed = await api.admin.get(HOOKS, params={"scope-id": api.project_id, "scope-type": "project"})
    assert listed.json() == {"items": [body], "next_page_token": None}

    changed = await api.admin.put(
        f"{HOOKS}/{body['id']}",
        json={
            "name": "failures",
            "events": ["job-completed"],
            "url": "http://10.0.0.5:9000/hook",
            "verify-tls": False,
            "signing-secret": "another-secret",
        },
    )
    assert changed.status_code == 200, changed.text
    after = changed.json()
    assert {k: after[k] for k in ("name", "events", "url", "verify-tls", "signing-secret")} == {
        "name": "failures",
        "events": ["job-completed"],
        "url": "http://10.0.0.5:9000/hook",
        "verify-tls": False,
        "signing-secret": "xxxxcret",
    }
    assert after["created-at"] == body["created-at"] and after["updated-at"] > body["updated-at"]
    only_name = await api.admin.put(f"{HOOKS}/{body['id']}", json={"name": "renamed"})
    assert only_name.json() == {**after, "name": "renamed", "updated-at": only_name.json()["updated-at"]}

    # The secret is sealed at rest, bound to this webhook, and opens to the new value.
    (row,) = await stored(api.svc)
    assert SECRET not in row.ciphertext and "another-secret" not in row.ciphertext
    opened = await api.svc.secret_box.open(Sealed(row.wrapped_dek, row.ciphertext), webhook_secret_aad(row.id))
    assert opened == "another-secret"

    deleted = await api.admin.delete(f"{HOOKS}/{body['id']}")
    assert (deleted.status_code, deleted.json()) == (200, {"message": "Webhook deleted."})
    assert (await api.admin.get(f"{HOOKS}/{body['id']}")).status_code == 404
    assert (await api.admin.delete(f"{HOOKS}/{body['id']}")).status_code == 404
    empty = await api.admin.get(HOOKS, params={"scope-id": api.project_id, "scope-type": "project"})
    assert empty.json() == {"items": [], "next_page_token": None}


async def test_changes_are_audited_without_the_secret(api: Api) -> None:
    made = (await api.developer.post(HOOKS, json=hook(api.project_id))).json()
    await api.developer.put(f"{HOOKS}/{made['id']}", json={"verify-tls": False, "signing-secret": "rotated!"})
    await api.developer.delete(f"{HOOKS}/{made['id']}")
    async with api.svc.db.session() as session:
        events = list((await session.execute(select(AuditEvent).order_by(AuditEvent.occurred_at))).scalars())
    hooks = [e for e in events if e.action.startswith("project.webhook.")]
    assert [e.action for e in hooks] == ["project.webhook.create", "project.webhook.update", "project.webhook.delete"]
    for event in hooks:
        assert event.actor["name"] == "dev" and event.target == {
            "id": made["id"],
            "type": "webhook",
            "name": "build events",
        }
        assert event.payload["project"]["slug"] == "gh/acme/app"
        assert event.payload["webhook"]["url"] == "https://hooks.example.com/circleci"  # no ?token=
        assert (
            SECRET not in str(event.payload)
            and "rotated!" not in str(event.payload)
            and "abc" not in str(event.payload)
        )
    assert hooks[1].payload["changed"] == {
        "verify-tls": {"from": True, "to": False},
        "signing-secret": {"changed": True},
    }


async def test_refusals_say_what_is_wrong_and_store_nothing(api: Api) -> None:
    async def refused(resp: httpx2.Response, status: int, message: str) -> None:
        assert resp.status_code == status, resp.text
        assert message in resp.json()["message"], resp.json()

    pid = api.project_id
    await refused(await api.anonymous.post(HOOKS, json=hook(pid)), 401, "You must log in first.")
    bad_token = httpx2.AsyncClient(transport=api.admin._transport, base_url="http://rondo.test")
    async with bad_token:
        await refused(await bad_token.get(f"{HOOKS}/{uuid.uuid4()}", headers={"Circle-Token": "nope"}), 401, "Invalid")

    without_url = hook(pid)
    del without_url["url"]
    await refused(await api.admin.post(HOOKS, json=without_url), 400, "url: Field required")
    await refused(await api.admin.post(HOOKS, json=hook(pid, events=["build-finished"])), 400, "events.0")
    await refused(await api.admin.post(HOOKS, json=hook(pid, events=[])), 400, "events")
    for url in ("ftp://hooks.example.com/x", "hooks.example.com/x", "javascript:alert(1)"):
        await refused(await api.admin.post(HOOKS, json=hook(pid, url=url)), 400, "url must start with https://")
    await refused(await api.admin.post(HOOKS, json=hook(pid, url="https://")), 400, "names no host")
    await refused(await api.admin.post(HOOKS, json=hook(pid, url="https://a b.example")), 400, "without spaces")
    await refused(await api.admin.post(HOOKS, json=hook(pid, url="https://h:99999/")), 400, "not a valid address")
    unknown = str(uuid.uuid4())
    await refused(
        await api.admin.post(HOOKS, json=hook(pid, scope={"id": unknown, "type": "project"})),
        400,
        f"scope.id {unknown} is not the id of a project on this server",
    )
    await refused(
        await api.admin.post(HOOKS, json=hook(pid, scope={"id": "gh/acme/app", "type": "project"})),
        400,
        "scope.id must be a project's id (a UUID)",
    )
    await refused(
        await api.admin.post(HOOKS, json=hook(pid, scope={"id": pid, "type": "organization"})), 400, "scope.type"
    )
    no_tls = hook(pid)
    del no_tls["verify-tls"]
    await refused(await api.admin.post(HOOKS, json=no_tls), 400, "verify-tls: Field required")
    await refused(await api.admin.post(HOOKS, json={**hook(pid), "verify_tls": True}), 400, "verify_tls")
    await refused(await api.admin.post(HOOKS, json=hook(pid, name="")), 400, "name")
    await refused(await api.admin.post(HOOKS, json=hook(pid, name="a\x00b")), 400, "name")
    await refused(
        await api.admin.post(HOOKS, content=b"not json", headers={"Content-Type": "application/json"}),
        400,
        "JSON decode error",
    )
    assert await stored(api.svc) == []  # nothing refused was saved

    await refused(await api.admin.get(HOOKS, params={"scope-type": "project"}), 400, "scope-id")
    await refused(await api.admin.get(HOOKS, params={"scope-id": pid, "scope-type": "org"}), 400, "scope-type")
    await refused(await api.admin.get(HOOKS, params={"scope-id": unknown, "scope-type": "project"}), 404, "Project")
    await refused(await api.admin.get(f"{HOOKS}/not-a-uuid"), 404, "Webhook not found")
    await refused(await api.admin.get(f"{HOOKS}/{unknown}"), 404, "Webhook not found")
    await refused(await api.admin.put(f"{HOOKS}/{unknown}", json={"name": "x"}), 404, "Webhook not found")
    await refused(await api.admin.delete(f"{HOOKS}/{unknown}"), 404, "Webhook not found")

    made = [(await api.admin.post(HOOKS, json=hook(pid, f"hook {n}"))).json() for n in range(5)]
    await refused(await api.admin.post(HOOKS, json=hook(pid, "sixth")), 400, "already has 5 webhooks")
    path = f"{HOOKS}/{made[0]['id']}"
    await refused(await api.admin.put(path, json={"url": None}), 400, "url cannot be null")
    await refused(await api.admin.put(path, json={"url": "gopher://x"}), 400, "url must start with https://")
    await refused(await api.admin.put(path, json={"events": ["push"]}), 400, "events.0")
    await refused(await api.admin.put(path, json={"scope": {"id": pid, "type": "project"}}), 400, "scope")
    await refused(await api.admin.put(path, json={}), 400, "Nothing to change")
    assert (await api.admin.get(path)).json() == made[0]  # nothing refused was half-saved
    assert len(await stored(api.svc)) == 5
