"""Project API tokens on a live in-process server with a machine agent running real jobs: made and listed
with a personal token, each scope doing what CircleCI lets it do and no more, one project's token
refused on another project, revocation, and the value shown once."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from sqlalchemy import select

from rondo.store.db import Database
from rondo.store.models import ApiToken
from tests.conftest import make_repo
from tests.engine.harness import InProcessServer, wait_for
from tests.engine.test_storage_steps import finished, jobs_of, machine_agent

CONFIG = """\
version: 2.1
jobs:
  build:
    machine: true
    steps:
      - run:
          name: Build
          command: |
            mkdir -p out reports/pytest
            echo "hello from $CIRCLE_PROJECT_REPONAME" > out/hello.txt
            echo '<testsuite><testcase classname="app.T" name="test_ok" time="0.2"/></testsuite>' > reports/pytest/r.xml
      - store_artifacts: {path: out}
      - store_test_results: {path: reports}
      - run: {name: Wait unless told not to, command: test -f FAST || sleep 60}
workflows:
  main: {jobs: [build]}
"""
A = "/api/v1.1/project/github/acme/app"
B = "/api/v1.1/project/github/acme/other"


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[InProcessServer]:
    with InProcessServer(tmp_path / "data", database_url, ref_poll_interval_s=3600.0) as srv:
        yield srv


def as_token(server: InProcessServer, token: str) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(base_url=server.url, headers={"Circle-Token": token}, timeout=30)


async def make_token(api: httpx2.AsyncClient, base: str, scope: str, label: str) -> dict[str, Any]:
    resp = await api.post(f"{base}/token", json={"scope": scope, "label": label})
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


async def follow(api: httpx2.AsyncClient, tmp_path: Path, name: str, fast: Path) -> int:
    """Follow a repo and wait for its first build; its number."""
    repo = make_repo(tmp_path / name, {".circleci/config.yml": CONFIG.replace("FAST", str(fast))})
    created = (await api.post(f"/api/v2/project/gh/acme/{name}", json={"vcs_url": str(repo)})).json()
    wf = await finished(api, created["first_pipeline"]["id"])
    assert wf["status"] == "success", wf
    return int((await jobs_of(api, wf["id"]))["build"]["job_number"])


async def status_of(api: httpx2.AsyncClient, method: str, path: str, **kwargs: Any) -> int:
    return (await api.request(method, path, **kwargs)).status_code


async def test_project_tokens_scopes_projects_and_revocation(server: InProcessServer, tmp_path: Path) -> None:
    fast = tmp_path / f"fast-{uuid.uuid4().hex}"
    fast.touch()
    async with server.api() as admin, machine_agent(server, tmp_path):
        n = await follow(admin, tmp_path, "app", fast)
        n_other = await follow(admin, tmp_path, "other", fast)

        # Made with a personal token; the value is in the answer to POST and nowhere after.
        tokens = {s: await make_token(admin, A, s, f"{s} bot") for s in ("status", "view-builds", "all")}
        for scope, made in tokens.items():
            assert made["token"].startswith("cciprj_") and made["scope"] == scope and made["label"] == f"{scope} bot"
            assert made["time"].endswith("Z")
            uuid.UUID(made["id"])
        listed = await admin.get(f"{A}/token")
        assert listed.status_code == 200
        assert [(t["label"], t["scope"], t["token"]) for t in listed.json()] == [
            ("status bot", "status", None),
            ("view-builds bot", "view-builds", None),
            ("all bot", "all", None),
        ]
        assert not any(t["token"] in listed.text for t in tokens.values())
        db = Database(server.settings.resolved_database_url)
        try:
            async with db.session() as session:
                stored = (await session.scalars(select(ApiToken).where(ApiToken.kind == "project"))).all()
        finally:
            await db.close()
        assert len(stored) == 3
        for row in stored:
            cells = " ".join(str(getattr(row, c.key)) for c in ApiToken.__table__.columns)
            assert not any(t["token"] in cells for t in tokens.values())  # only a digest is kept

        bad = await admin.post(f"{A}/token", json={"scope": "admin", "label": "x"})
        assert bad.status_code == 400 and "status, view-builds, all" in bad.json()["message"]
        assert await status_of(admin, "POST", f"{A}/token", json={"scope": "all"}) == 400
        assert await status_of(admin, "POST", f"{A}/token", json={"scope": "all", "label": " "}) == 400
        assert await status_of(admin, "POST", "/api/v1.1/project/github/acme/nope/token", json={
            "scope": "all", "label": "x"}) == 404  # fmt: skip

        status, view, write = (as_token(server, tokens[s]["token"]) for s in ("status", "view-builds", "all"))
        async with status, view, write:
            # status: the project's recent builds (their statuses), nothing more.
            assert (await status.get(A)).json()[0]["build_num"] == n
            assert await status_of(status, "GET", f"{A}/tree/main") == 200
            denied = await status.get(f"{A}/{n}")
            assert denied.status_code == 403
            assert denied.json()["message"] == (
                "Permission denied: this project API token has the `status` scope; this needs `view-builds` or `all`."
            )
            for path in (f"{A}/{n}/artifacts", f"{A}/{n}/tests", f"{A}/latest/artifacts", f"{A}/envvar"):
                assert await status_of(status, "GET", path) == 403, path
            assert await status_of(status, "POST", f"{A}/tree/main") == 403

            # view-builds: everything about builds, artifacts (downloads too) and tests; no writes.
            build = (await view.get(f"{A}/{n}")).json()
            assert build["build_num"] == n and build["steps"]
            output = await view.get(build["steps"][0]["actions"][0]["output_url"].split("?")[0])
            assert output.status_code == 200
            (artifact,) = (await view.get(f"{A}/{n}/artifacts")).json()
            async with httpx2.AsyncClient(timeout=30, follow_redirects=True) as anonymous:
                got = await anonymous.get(artifact["url"], params={"circle-token": tokens["view-builds"]["token"]})
                assert got.status_code == 200 and got.text == "hello from app\n"
                refused = await anonymous.get(artifact["url"], params={"circle-token": tokens["status"]["token"]})
                assert refused.status_code == 403
            assert (await view.get(f"{A}/{n}/tests")).json()["tests"][0]["name"] == "test_ok"
            assert await status_of(view, "GET", f"{A}/latest/artifacts") == 200
            assert await status_of(view, "GET", f"{A}/envvar") == 200
            for method, path in (("POST", f"{A}/tree/main"), ("POST", f"{A}/{n}/cancel"), ("POST", f"{A}/{n}/retry"),
                                 ("DELETE", f"{A}/envvar/X")):  # fmt: skip
                assert await status_of(view, method, path) == 403, path
            assert await status_of(view, "POST", f"{A}/envvar", json={"name": "X", "value": "y"}) == 403

            # all: triggers, cancels and retries, attributed to the token; manages variables.
            fast.unlink()
            trig = await write.post(f"{A}/tree/main")
            assert trig.status_code == 201, trig.text

            async def running() -> int | None:
                wfs = (await admin.get(f"/api/v2/pipeline/{trig.json()['pipeline_id']}/workflow")).json()["items"]
                jobs = await jobs_of(admin, wfs[0]["id"]) if wfs else {}
                job = jobs.get("build")
                return job["job_number"] if job and job["status"] == "running" else None

            slow = await wait_for(running, 60, "the triggered build to run")
            canceled = await write.post(f"{A}/{slow}/cancel")
            assert canceled.status_code == 200 and canceled.json()["build_num"] == slow

            async def is_canceled() -> bool:
                return bool((await view.get(f"{A}/{slow}")).json()["status"] == "canceled")

            await wait_for(is_canceled, 60, "the build to be canceled")
            detail = (await view.get(f"{A}/{slow}")).json()
            assert detail["user"] == {"is_user": False, "login": "project-token:all bot", "avatar_url": None,
                                      "name": None, "vcs_type": "github"}  # fmt: skip
            fast.touch()
            retried = await write.post(f"{A}/{slow}/retry")
            assert retried.status_code == 200 and retried.json()["retry_of"] == slow
            assert (await write.post(f"{A}/envvar", json={"name": "X", "value": "secret-value"})).status_code == 201
            assert (await view.get(f"{A}/envvar/X")).json() == {"name": "X", "value": "xxxxalue"}
            assert (await write.delete(f"{A}/envvar/X")).json() == {"message": "ok"}
            audit = list(csv.DictReader(io.StringIO((await admin.get("/api/v2/admin/audit-log")).text)))
            by_token = [r for r in audit if r["action"].startswith("project.env_var.")]
            assert [json.loads(r["actor"]) for r in by_token] == [
                {"id": tokens["all"]["id"], "type": "project_token", "name": "all bot"}
            ] * 2
            made = [json.loads(r["payload"]) for r in audit if r["action"] == "project.api_token.create"]
            assert [p["token"]["scope"] for p in made] == ["status", "view-builds", "all"]
            assert not any(t["token"] in r[c] for r in audit for c in r for t in tokens.values())

            # Never another project's, never API v2, never the user-level v1.1 endpoints.
            for method, path in (("GET", B), ("GET", f"{B}/{n_other}"), ("GET", f"{B}/{n_other}/artifacts"),
                                 ("POST", f"{B}/tree/main"), ("POST", f"{B}/{n_other}/cancel"), ("GET", f"{B}/envvar"),
                                 ("GET", "/api/v1.1/project/github/acme/missing")):  # fmt: skip
                resp = await write.request(method, path)
                assert (resp.status_code, resp.json()) == (404, {"message": "Project not found"}), path
            (other_artifact,) = (await admin.get(f"{B}/{n_other}/artifacts")).json()
            other = await write.get(other_artifact["url"])
            assert (other.status_code, other.json()) == (404, {"message": "Artifact not found"})
            user_level = [
                ("GET", "/api/v2/me"),
                ("GET", "/api/v2/project/gh/acme/app"),
                ("GET", "/api/v2/project/gh/acme/app/pipeline"),
                ("POST", "/api/v2/project/gh/acme/app/pipeline"),
                ("GET", "/api/v2/insights/gh/acme/app/flaky-tests"),
                ("GET", "/api/v1.1/me"),
                ("GET", "/api/v1.1/projects"),
                ("GET", "/api/v1.1/recent-builds"),
                ("POST", f"{A}/build"),
                ("POST", f"{A}/follow"),
                ("GET", f"{A}/token"),
                ("POST", f"{A}/token"),
            ]
            for method, path in user_level:
                resp = await write.request(method, path)
                assert resp.status_code == 401, (path, resp.text)
                assert "personal API token" in resp.json()["message"]

            # Revoking: by id or by value; the token stops working at once.
            assert (await admin.delete(f"{A}/token/{tokens['all']['id']}")).json() == {"message": "ok"}
            gone = await write.get(A)
            assert (gone.status_code, gone.json()) == (401, {"message": "Invalid token provided."})
            assert await status_of(admin, "DELETE", f"{B}/token/{tokens['status']['id']}") == 404  # not B's
            assert await status_of(admin, "DELETE", f"{A}/token/{tokens['all']['id']}") == 404  # already gone
            assert (await admin.delete(f"{A}/token/{tokens['status']['token']}")).status_code == 200
            assert await status_of(status, "GET", A) == 401
            assert [t["scope"] for t in (await admin.get(f"{A}/token")).json()] == ["view-builds"]
            assert await status_of(view, "GET", f"{A}/{n}") == 200
