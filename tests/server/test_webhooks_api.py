"""/api/v2/webhook on the real app (in process, SQLite and PostgreSQL): CRUD, the secret kept sealed, refusals."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx2
import pytest
from sqlalchemy import select

from rondo.secrets.envelope import Sealed, webhook_secret_aad
from rondo.server.services import Services
from rondo.store.models import AuditEvent, Webhook
from tests.server.conftest import Clients

SECRET = "s3cr3t-signing-key"
HOOKS = "/api/v2/webhook"


@pytest.fixture
async def project_id(clients: Clients, tmp_path: Path) -> str:
    return str((await clients.follow(tmp_path / "repo", {".circleci/config.yml": "version: 2.1\n"}))["id"])


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


async def test_create_read_list_change_delete(clients: Clients, project_id: str) -> None:
    created = await clients.developer.post(HOOKS, json=hook(project_id))
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
        "scope": {"id": project_id, "type": "project"},
        "name": "build events",
        "events": ["workflow-completed", "job-completed"],
        "url": "https://hooks.example.com/circleci?token=abc",
        "verify-tls": True,
    }
    assert body["signing-secret"] == "xxxx" + SECRET[-4:]  # masked, as CircleCI answers it
    assert body["created-at"].endswith("Z") and body["created-at"] == body["updated-at"]

    assert (await clients.admin.get(f"{HOOKS}/{body['id']}")).json() == body
    listed = await clients.admin.get(HOOKS, params={"scope-id": project_id, "scope-type": "project"})
    assert listed.json() == {"items": [body], "next_page_token": None}

    changed = await clients.admin.put(
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
    only_name = await clients.admin.put(f"{HOOKS}/{body['id']}", json={"name": "renamed"})
    assert only_name.json() == {**after, "name": "renamed", "updated-at": only_name.json()["updated-at"]}

    # The secret is sealed at rest, bound to this webhook, and opens to the new value.
    (row,) = await stored(clients.svc)
    assert SECRET not in row.ciphertext and "another-secret" not in row.ciphertext
    opened = await clients.svc.secret_box.open(Sealed(row.wrapped_dek, row.ciphertext), webhook_secret_aad(row.id))
    assert opened == "another-secret"

    deleted = await clients.admin.delete(f"{HOOKS}/{body['id']}")
    assert (deleted.status_code, deleted.json()) == (200, {"message": "Webhook deleted."})
    assert (await clients.admin.get(f"{HOOKS}/{body['id']}")).status_code == 404
    assert (await clients.admin.delete(f"{HOOKS}/{body['id']}")).status_code == 404
    empty = await clients.admin.get(HOOKS, params={"scope-id": project_id, "scope-type": "project"})
    assert empty.json() == {"items": [], "next_page_token": None}


async def test_changes_are_audited_without_the_secret(clients: Clients, project_id: str) -> None:
    made = (await clients.developer.post(HOOKS, json=hook(project_id))).json()
    await clients.developer.put(f"{HOOKS}/{made['id']}", json={"verify-tls": False, "signing-secret": "rotated!"})
    await clients.developer.delete(f"{HOOKS}/{made['id']}")
    async with clients.svc.db.session() as session:
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


async def test_refusals_say_what_is_wrong_and_store_nothing(clients: Clients, project_id: str) -> None:
    async def refused(resp: httpx2.Response, status: int, message: str) -> None:
        assert resp.status_code == status, resp.text
        assert message in resp.json()["message"], resp.json()

    pid = project_id
    await refused(await clients.anonymous.post(HOOKS, json=hook(pid)), 401, "You must log in first.")
    bad_token = httpx2.AsyncClient(transport=clients.admin._transport, base_url="http://rondo.test")
    async with bad_token:
        await refused(await bad_token.get(f"{HOOKS}/{uuid.uuid4()}", headers={"Circle-Token": "nope"}), 401, "Invalid")

    without_url = hook(pid)
    del without_url["url"]
    await refused(await clients.admin.post(HOOKS, json=without_url), 400, "url: Field required")
    await refused(await clients.admin.post(HOOKS, json=hook(pid, events=["build-finished"])), 400, "events.0")
    await refused(await clients.admin.post(HOOKS, json=hook(pid, events=[])), 400, "events")
    for url in ("ftp://hooks.example.com/x", "hooks.example.com/x", "javascript:alert(1)"):
        await refused(await clients.admin.post(HOOKS, json=hook(pid, url=url)), 400, "url must start with https://")
    await refused(await clients.admin.post(HOOKS, json=hook(pid, url="https://")), 400, "names no host")
    await refused(await clients.admin.post(HOOKS, json=hook(pid, url="https://a b.example")), 400, "without spaces")
    await refused(await clients.admin.post(HOOKS, json=hook(pid, url="https://h:99999/")), 400, "not a valid address")
    unknown = str(uuid.uuid4())
    await refused(
        await clients.admin.post(HOOKS, json=hook(pid, scope={"id": unknown, "type": "project"})),
        400,
        f"scope.id {unknown} is not the id of a project on this server",
    )
    await refused(
        await clients.admin.post(HOOKS, json=hook(pid, scope={"id": "gh/acme/app", "type": "project"})),
        400,
        "scope.id must be a project's id (a UUID)",
    )
    await refused(
        await clients.admin.post(HOOKS, json=hook(pid, scope={"id": pid, "type": "organization"})), 400, "scope.type"
    )
    no_tls = hook(pid)
    del no_tls["verify-tls"]
    await refused(await clients.admin.post(HOOKS, json=no_tls), 400, "verify-tls: Field required")
    await refused(await clients.admin.post(HOOKS, json={**hook(pid), "verify_tls": True}), 400, "verify_tls")
    await refused(await clients.admin.post(HOOKS, json=hook(pid, name="")), 400, "name")
    await refused(await clients.admin.post(HOOKS, json=hook(pid, name="a\x00b")), 400, "name")
    await refused(
        await clients.admin.post(HOOKS, content=b"not json", headers={"Content-Type": "application/json"}),
        400,
        "JSON decode error",
    )
    assert await stored(clients.svc) == []  # nothing refused was saved

    await refused(await clients.admin.get(HOOKS, params={"scope-type": "project"}), 400, "scope-id")
    await refused(await clients.admin.get(HOOKS, params={"scope-id": pid, "scope-type": "org"}), 400, "scope-type")
    await refused(await clients.admin.get(HOOKS, params={"scope-id": unknown, "scope-type": "project"}), 404, "Project")
    await refused(await clients.admin.get(f"{HOOKS}/not-a-uuid"), 404, "Webhook not found")
    await refused(await clients.admin.get(f"{HOOKS}/{unknown}"), 404, "Webhook not found")
    await refused(await clients.admin.put(f"{HOOKS}/{unknown}", json={"name": "x"}), 404, "Webhook not found")
    await refused(await clients.admin.delete(f"{HOOKS}/{unknown}"), 404, "Webhook not found")

    made = [(await clients.admin.post(HOOKS, json=hook(pid, f"hook {n}"))).json() for n in range(5)]
    await refused(await clients.admin.post(HOOKS, json=hook(pid, "sixth")), 400, "already has 5 webhooks")
    path = f"{HOOKS}/{made[0]['id']}"
    await refused(await clients.admin.put(path, json={"url": None}), 400, "url cannot be null")
    await refused(await clients.admin.put(path, json={"url": "gopher://x"}), 400, "url must start with https://")
    await refused(await clients.admin.put(path, json={"events": ["push"]}), 400, "events.0")
    await refused(await clients.admin.put(path, json={"scope": {"id": pid, "type": "project"}}), 400, "scope")
    await refused(await clients.admin.put(path, json={}), 400, "Nothing to change")
    assert (await clients.admin.get(path)).json() == made[0]  # nothing refused was half-saved
    assert len(await stored(clients.svc)) == 5
