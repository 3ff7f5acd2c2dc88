"""The audit log: every event type, each produced by a real action, found in the CSV with all its fields.

Runs the app on loopback with an agent (the fake executor) so jobs really are scheduled, started,
finished and approved; downloads the CSV through the admin API, the admin page and `rondo admin audit`.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from rondo.ops.audit import ACTIONS, CSV_COLUMNS
from rondo.secrets.ssh_keys import generate_ed25519
from rondo.store.migrate import sync_url
from tests.conftest import make_repo
from tests.engine.harness import InProcessServer, wait_for
from tests.engine.test_engine_with_fake_agent import fake_agent
from tests.plaintext import private_key_parts

CONFIG = """\
version: 2.1
jobs:
  build:
    machine: true
    steps:
      - run: echo build
workflows:
  main:
    jobs:
      - build
      - hold:
          type: approval
          requires: [build]
"""

TRACE = "trace-4711"
EXTRA_KEY = generate_ed25519()

ORB = "version: 2.1\ncommands:\n  hello:\n    steps:\n      - run: echo hello\n"
CREATE_NAMESPACE = """mutation($name: String!, $organizationId: UUID!) {
  createNamespace(name: $name, organizationId: $organizationId) { namespace { id } errors { message type } }
}"""
CREATE_ORB = """mutation($name: String!, $registryNamespaceId: UUID!, $isPrivate: Boolean!) {
  createOrb(name: $name, registryNamespaceId: $registryNamespaceId, isPrivate: $isPrivate) {
    orb { id } errors { message type }
  }
}"""
PUBLISH_ORB = """mutation($config: String!, $orbName: String, $namespaceName: String, $version: String!) {
  publishOrb(orbName: $orbName, namespaceName: $namespaceName, orbYaml: $config, version: $version) {
    orb { version } errors { message }
  }
}"""
PROMOTE_ORB = """mutation($orbName: String, $namespaceName: String, $devVersion: String!, $semanticVersion: String!) {
  promoteOrb(orbName: $orbName, namespaceName: $namespaceName, devVersion: $devVersion,
             semanticVersion: $semanticVersion) { orb { version source } errors { message } }
}"""


@pytest.fixture
def started() -> datetime:
    """Before the server exists: its first start records events too."""
    return datetime.now(UTC)


@pytest.fixture
def server(started: datetime, tmp_path: Path, database_url: str) -> Iterator[InProcessServer]:
    with InProcessServer(tmp_path / "data", database_url, heartbeat_interval_s=0.5) as srv:
        yield srv


def ok(resp: httpx2.Response, status: int = 200) -> Any:
    assert resp.status_code == status, f"{resp.request.method} {resp.request.url}: {resp.status_code} {resp.text}"
    return resp.json() if resp.headers.get("content-type", "").startswith("application/json") else resp.text


async def graphql(api: httpx2.AsyncClient, query: str, **variables: Any) -> dict[str, Any]:
    """Run a document on /graphql-unstable; no errors, at the top or in the mutation's payload."""
    body = ok(await api.post("/graphql-unstable", json={"query": query, "variables": variables}))
    assert "errors" not in body, body
    assert all(not payload.get("errors") for payload in body["data"].values()), body
    data: dict[str, Any] = body["data"]
    return data


def rows_of(csv_text: str) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(csv_text))
    assert reader.fieldnames == CSV_COLUMNS
    return list(reader)


async def produce_every_event(server: InProcessServer, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {".circleci/config.yml": CONFIG})
    async with server.api() as api, fake_agent(server, tmp_path):
        api.headers["X-Client-Trace-Id"] = TRACE
        # users, sign-in and system settings
        dev = ok(await api.post("/api/v2/admin/users", json={"login": "dev", "name": "Developer"}), 201)
        ok(await api.patch("/api/v2/admin/settings", json={"suspend_new_users": True}))
        late = ok(await api.post("/api/v2/admin/users", json={"login": "late"}), 201)
        assert late["suspended"] is True
        ok(await api.post("/api/v2/admin/users/late/activate"))
        ok(await api.post("/api/v2/admin/users/dev/suspend"))
        ok(await api.post("/api/v2/admin/users/dev/activate"))
        async with httpx2.AsyncClient(base_url=server.url) as browser:
            signed_in = await browser.post("/login", data={"token": dev["token"]})
            assert signed_in.status_code == 303, signed_in.text
            assert (await browser.post("/logout")).status_code == 303

        # a project: its variables and settings; jobs run, one is approved
        project = ok(await api.post("/api/v2/project/gh/acme/app", json={"vcs_url": str(repo)}), 201)
        ok(await api.post("/api/v2/project/gh/acme/app/envvar", json={"name": "A", "value": "value-aaaa"}), 201)
        ok(await api.delete("/api/v2/project/gh/acme/app/envvar/A"))
        ok(await api.patch("/api/v2/project/gh/acme/app/settings", json={"advanced": {"oss": True}}))
        token = {"scope": "view-builds", "label": "dashboard"}
        made = ok(await api.post("/api/v1.1/project/github/acme/app/token", json=token), 201)
        ok(await api.delete(f"/api/v1.1/project/github/acme/app/token/{made['id']}"))
        hook = {
            "name": "events",
            "events": ["job-completed"],
            "url": "https://hooks.example.com/in?token=t0k3n",
            "verify-tls": True,
            "signing-secret": "hook-secret-hhhh",
            "scope": {"id": project["id"], "type": "project"},
        }
        hook_made = ok(await api.post("/api/v2/webhook", json=hook), 201)
        ok(await api.put(f"/api/v2/webhook/{hook_made['id']}", json={"events": ["workflow-completed"]}))
        ok(await api.delete(f"/api/v2/webhook/{hook_made['id']}"))
        key = ok(await api.post("/api/v2/project/gh/acme/app/checkout-key", json={"type": "deploy-key"}), 201)
        ok(await api.delete(f"/api/v2/project/gh/acme/app/checkout-key/{key['fingerprint']}"))
        extra = {"hostname": "deploy.example.com", "private_key": EXTRA_KEY.private_key}
        added = ok(await api.post("/api/v1.1/project/gh/acme/app/ssh-key", json=extra))
        body = {"fingerprint": added["fingerprint"], "hostname": "deploy.example.com"}
        ok(await api.request("DELETE", "/api/v1.1/project/gh/acme/app/ssh-key", json=body))

        async def on_hold() -> dict[str, Any] | None:
            wfs = (await api.get(f"/api/v2/pipeline/{project['first_pipeline']['id']}/workflow")).json()["items"]
            if not wfs or wfs[0]["status"] != "on_hold":
                return None
            jobs = (await api.get(f"/api/v2/workflow/{wfs[0]['id']}/job")).json()["items"]
            return {"workflow": wfs[0], "hold": next(j for j in jobs if j["name"] == "hold")}

        held = await wait_for(on_hold, what="the approval job to be on hold")
        ok(await api.post(f"/api/v2/workflow/{held['workflow']['id']}/approve/{held['hold']['id']}"), 202)

        # contexts, their variables and restrictions; security groups
        org_id = project["organization_id"]
        ctx = ok(await api.post("/api/v2/context", json={"name": "deploy", "owner": {"id": org_id}}))
        ok(await api.put(f"/api/v2/context/{ctx['id']}/environment-variable/K", json={"value": "value-kkkk"}))
        ok(await api.delete(f"/api/v2/context/{ctx['id']}/environment-variable/K"))
        group = ok(await api.post(f"/api/v2/organizations/{org_id}/groups", json={"name": "ops"}), 201)
        ok(await api.put(f"/api/v2/organizations/{org_id}/groups/{group['id']}/members/dev"))
        ok(await api.delete(f"/api/v2/organizations/{org_id}/groups/{group['id']}/members/dev"))
        body = {"restriction_type": "group", "restriction_value": group["id"]}
        restriction = ok(await api.post(f"/api/v2/context/{ctx['id']}/restrictions", json=body), 201)
        ok(await api.delete(f"/api/v2/context/{ctx['id']}/restrictions/{restriction['id']}"))
        ok(await api.delete(f"/api/v2/organizations/{org_id}/groups/{group['id']}"))
        ok(await api.delete(f"/api/v2/context/{ctx['id']}"))

        # organization members; an orb namespace, orb, version and promotion through the CLI's GraphQL
        ok(await api.put(f"/api/v2/organizations/{org_id}/members/dev"))
        ok(await api.delete(f"/api/v2/organizations/{org_id}/members/dev"))
        created = await graphql(api, CREATE_NAMESPACE, name="acme", organizationId=org_id)
        namespace_id = created["createNamespace"]["namespace"]["id"]
        await graphql(api, CREATE_ORB, name="tools", registryNamespaceId=namespace_id, isPrivate=False)
        orb = {"orbName": "tools", "namespaceName": "acme"}
        await graphql(api, PUBLISH_ORB, config=ORB, version="dev:alpha", **orb)
        await graphql(api, PROMOTE_ORB, devVersion="dev:alpha", semanticVersion="0.0.1", **orb)

        # an agent drained and undrained
        ok(await api.post("/api/v2/agents/fake/drain"), 202)
        ok(await api.delete("/api/v2/agents/fake/drain"), 202)


async def test_every_event_type_is_in_the_csv_with_all_fields(
    started: datetime, server: InProcessServer, tmp_path: Path, database_url: str
) -> None:
    await produce_every_event(server, tmp_path)
    async with server.api() as api:
        rows = rows_of(ok(await api.get("/api/v2/admin/audit-log")))

    actions = {r["action"] for r in rows}
    # system.backup and system.restore come from `rondo backup` / `rondo restore` at the server's shell:
    # tests/e2e/test_backup_restore.py finds them in the CSV of a real backup and restore.
    expected = set(ACTIONS) - {"system.backup", "system.restore"}
    assert actions == expected, f"missing: {expected - actions}"
    assert len({r["id"] for r in rows}) == len(rows)
    for row in rows:
        uuid.UUID(row["id"])
        assert row["version"] == "1"
        occurred = datetime.fromisoformat(row["occurred_at"].replace("Z", "+00:00"))
        assert row["occurred_at"].endswith("Z") and occurred >= started.replace(microsecond=0)
        for field in ("actor", "target", "scope"):
            value = json.loads(row[field])
            assert value["id"] and value["type"] and "name" in value, (row["action"], field, value)
        assert isinstance(json.loads(row["payload"]), dict)
        metadata = json.loads(row["metadata"])
        assert isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values())
        assert row["success"] in ("true", "false")
    assert [r["occurred_at"] for r in rows] == sorted(r["occurred_at"] for r in rows)

    by_action: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_action.setdefault(row["action"], []).append({k: _json(v) for k, v in row.items()})
    # API actions name their request: Rondo's id, the client's address and its X-Client-Trace-Id
    created = by_action["project.env_var.create"][0]
    assert created["request"]["client_trace_id"] == TRACE and created["request"]["ip_address"] == "127.0.0.1"
    uuid.UUID(created["request"]["id"])
    assert created["actor"] == {"id": created["actor"]["id"], "type": "user", "name": "admin"}
    assert created["target"]["name"] == "gh/acme/app" and created["scope"]["name"] == "gh/acme"
    assert created["payload"]["env_var"] == {"name": "A"}
    assert "value-aaaa" not in json.dumps(rows)  # names only, never values
    assert "hook-secret-hhhh" not in json.dumps(rows) and "t0k3n" not in json.dumps(rows)
    changed = by_action["project.webhook.update"][0]
    assert changed["target"]["type"] == "webhook" and changed["scope"]["name"] == "gh/acme"
    assert changed["payload"]["changed"] == {"events": {"from": ["job-completed"], "to": ["workflow-completed"]}}
    made = by_action["project.ssh_key.create"][0]["payload"]["ssh_key"]
    assert made == {"hostname": "deploy.example.com", "fingerprint": EXTRA_KEY.fingerprint, "type": "ed25519"}
    assert by_action["project.checkout_key.delete"][0]["payload"]["was_preferred"] is True
    assert all(line not in json.dumps(rows) for line in private_key_parts(EXTRA_KEY.private_key))
    assert by_action["user.logged_in"][0]["actor"]["name"] == "dev"
    assert by_action["user.create"][0]["actor"]["type"] == "system"  # the first start's admin
    assert by_action["settings.update"][0]["payload"]["changed"] == {"suspend_new_users": {"from": False, "to": True}}
    # jobs: scheduled, started and finished by the agent; the approval by the user who clicked
    finish = next(e for e in by_action["workflow.job.finish"] if e["target"]["name"] == "build")
    assert (finish["success"], finish["payload"]["job"]["status"], finish["request"]) == (True, "success", None)
    assert {e["target"]["name"] for e in by_action["workflow.job.scheduled"]} == {"build"}
    approve = by_action["workflow.job.approve"][0]
    assert (approve["target"]["name"], approve["actor"]["name"]) == ("hold", "admin")
    assert approve["metadata"] == {"project": "gh/acme/app", "workflow": "main"}
    assert [e["payload"]["drain"] for e in by_action["agent.drain"]] == [True, False]
    # the orb registry's events are scoped to the organization that owns the namespace
    promoted = by_action["orb.version.promote"][0]
    assert (promoted["target"]["type"], promoted["target"]["name"]) == ("orb", "acme/tools")
    assert promoted["scope"]["name"] == "gh/acme" and promoted["request"]["client_trace_id"] == TRACE
    assert promoted["payload"]["dev_version"] == "dev:alpha" and promoted["payload"]["version"] == "0.0.1"
    assert by_action["orb.namespace.create"][0]["payload"] == {"name": "acme", "imported": False}
    assert by_action["orb.version.publish"][0]["payload"]["version"] == "dev:alpha"
    assert by_action["organization.member.add"][0]["target"]["name"] == "dev"

    # The admin area's download is the same CSV; a time range narrows it.
    async with server.api() as api:
        middle = by_action["context.create"][0]["occurred_at"]
        later = rows_of(ok(await api.get("/api/v2/admin/audit-log", params={"start": middle})))
        assert later and all(r["occurred_at"] >= middle for r in later) and len(later) < len(rows)
        earlier = rows_of(ok(await api.get("/api/v2/admin/audit-log", params={"end": middle})))
        assert len(earlier) + len(later) == len(rows)
        assert (await api.get("/api/v2/admin/audit-log", params={"start": "yesterday"})).status_code == 400
    async with httpx2.AsyncClient(base_url=server.url) as browser:
        assert (await browser.post("/login", data={"token": server.admin_token})).status_code == 303
        page = await browser.get("/admin/audit")
        assert page.status_code == 200 and "workflow.job.approve" in page.text
        download = await browser.get("/admin/audit.csv", params={"start": middle})
        assert download.headers["content-disposition"].startswith("attachment;")
        # the same rows, and the sign-in just now after them
        downloaded = rows_of(download.text)
        assert [r["id"] for r in downloaded[: len(later)]] == [r["id"] for r in later]
        assert downloaded[-1]["action"] == "user.logged_in"

    # `rondo admin audit` writes the same CSV
    out = tmp_path / "audit.csv"
    env = {**os.environ, "RONDO_URL": server.url, "RONDO_TOKEN": server.admin_token}
    command = [sys.executable, "-m", "rondo", "admin", "audit", "--start", middle, "-o", str(out)]
    done = await asyncio.to_thread(subprocess.run, command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert [r["id"] for r in rows_of(out.read_text())][: len(later)] == [r["id"] for r in later]

    # Append-only, in the database itself.
    engine = create_engine(sync_url(database_url))
    try:
        for statement in ("UPDATE audit_events SET action = 'x'", "DELETE FROM audit_events"):
            with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
                conn.execute(text(statement))
    finally:
        engine.dispose()


async def test_only_administrators_read_the_audit_log(server: InProcessServer) -> None:
    async with server.api() as api:
        dev = ok(await api.post("/api/v2/admin/users", json={"login": "dev"}), 201)
    async with httpx2.AsyncClient(base_url=server.url, headers={"Circle-Token": dev["token"]}) as as_dev:
        denied = await as_dev.get("/api/v2/admin/audit-log")
        assert (denied.status_code, denied.json()) == (403, {"message": "Only administrators can do this."})
        assert (await as_dev.post("/api/v2/admin/users", json={"login": "x"})).status_code == 403


def _json(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


async def test_rondo_admin_user_commands(server: InProcessServer) -> None:
    env = {**os.environ, "RONDO_URL": server.url, "RONDO_TOKEN": server.admin_token}

    async def rondo(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "rondo", "admin", "user", *args]
        return await asyncio.to_thread(subprocess.run, command, env=env, capture_output=True, text=True, timeout=60)

    created = await rondo("create", "ci-bot", "--name", "CI bot")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("ccipat_") and "created ci-bot" in created.stderr
    listed = await rondo("list")
    assert any(line.split()[:3] == ["ci-bot", "false", "false"] for line in listed.stdout.splitlines())
    async with httpx2.AsyncClient(base_url=server.url, headers={"Circle-Token": token}) as bot:
        assert (await bot.get("/api/v2/me")).json()["login"] == "ci-bot"
        assert (await rondo("suspend", "ci-bot")).returncode == 0
        assert (await bot.get("/api/v2/me")).status_code == 401
        assert (await rondo("activate", "ci-bot")).returncode == 0
        assert (await bot.get("/api/v2/me")).status_code == 200
    again = await rondo("create", "ci-bot")
    assert again.returncode != 0 and "already exists" in again.stderr


async def test_rondo_admin_member_commands(server: InProcessServer, tmp_path: Path) -> None:
    env = {**os.environ, "RONDO_URL": server.url, "RONDO_TOKEN": server.admin_token}

    async def rondo(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "rondo", "admin", *args]
        return await asyncio.to_thread(subprocess.run, command, env=env, capture_output=True, text=True, timeout=60)

    repo = make_repo(tmp_path / "repo", {".circleci/config.yml": CONFIG})
    async with server.api() as api:
        ok(await api.post("/api/v2/project/gh/acme/app", json={"vcs_url": str(repo)}), 201)
        dev = ok(await api.post("/api/v2/admin/users", json={"login": "dev"}), 201)
        ok(await api.post("/api/v2/admin/users", json={"login": "eve"}), 201)
    assert "lists no members: every user works in it" in (await rondo("member", "list", "gh/acme")).stdout
    added = await rondo("member", "add", "github/acme", "dev")
    assert added.returncode == 0 and "dev added to the organization" in added.stdout, added.stderr
    listed = await rondo("member", "list", "gh/acme")
    assert [line.split()[0] for line in listed.stdout.splitlines()] == ["dev"]
    async with httpx2.AsyncClient(base_url=server.url, headers={"Circle-Token": dev["token"]}) as as_dev:
        assert [o["slug"] for o in (await as_dev.get("/api/v2/me/collaborations")).json()] == ["gh/acme"]
    assert (await rondo("member", "remove", "gh/acme", "dev")).returncode == 0
    missing = await rondo("member", "remove", "gh/acme", "eve")
    assert missing.returncode != 0 and "eve is not a listed member of gh/acme" in missing.stderr
    unknown = await rondo("member", "list", "gh/nobody")
    assert unknown.returncode != 0 and "no organization gh/nobody" in unknown.stderr
