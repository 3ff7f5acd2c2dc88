"""Pipeline definitions (one per project) and `POST /project/{slug}/pipeline/run`, on the real app and a real repo."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.conftest import commit_files, git, make_repo
from tests.server.conftest import Clients

CONFIG = """\
version: 2.1
parameters:
  greeting: {type: string, default: hello}
jobs:
  build:
    machine: true
    steps:
      - run: echo "<< pipeline.parameters.greeting >> from << pipeline.git.branch >><< pipeline.git.tag >>"
workflows:
  main:
    jobs: [build]
"""
RUN = "/api/v2/project/gh/acme/app/pipeline/run"
# How the CircleCI MCP server computes a classic project's definition id by itself.
MCP_NAMESPACE = uuid.UUID("490603c3-03cc-45b7-ab54-e54574e6d099")


@pytest.fixture
async def project(clients: Clients, tmp_path: Path) -> dict[str, Any]:
    repo = make_repo(tmp_path / "app", {".circleci/config.yml": CONFIG})
    git(repo, "checkout", "-q", "-b", "feature/x")
    commit_files(repo, {"feature.txt": "x\n"}, "a feature")
    git(repo, "tag", "v1.0")
    git(repo, "checkout", "-q", "main")
    resp = await clients.admin.post("/api/v2/project/gh/acme/app", json={"vcs_url": str(repo)})
    assert resp.status_code == 201, resp.text
    return {**resp.json(), "repo": repo}


async def pipeline_of(api: httpx2.AsyncClient, created: httpx2.Response) -> dict[str, Any]:
    assert created.status_code == 201, created.text
    assert set(created.json()) == {"id", "state", "number", "created_at"}
    pipeline = (await api.get(f"/api/v2/pipeline/{created.json()['id']}")).json()
    config = (await api.get(f"/api/v2/pipeline/{created.json()['id']}/config")).json()
    return {**pipeline, "compiled": config["compiled"]}


async def test_each_project_lists_one_definition(clients: Clients, project: dict[str, Any]) -> None:
    expected_id = str(uuid.uuid5(MCP_NAMESPACE, project["id"]))
    listed = await clients.developer.get(f"/api/v2/projects/{project['id']}/pipeline-definitions")
    assert listed.status_code == 200, listed.text
    (definition,) = listed.json()["items"]
    assert definition["id"] == expected_id and definition["name"] == "app"
    assert definition["config_source"] == {
        "provider": "github_oauth",
        "repo": {"full_name": "acme/app", "external_id": str(project["repo"])},
        "file_path": ".circleci/config.yml",
    }
    assert definition["checkout_source"]["repo"]["full_name"] == "acme/app"
    assert definition["created_at"].endswith("Z") and "main" in definition["description"]
    mcp_path = await clients.developer.get(f"/api/v2/project/{project['id']}/pipeline-definitions")
    assert mcp_path.json() == listed.json()
    one = await clients.developer.get(f"/api/v2/projects/{project['id']}/pipeline-definitions/{expected_id}")
    assert one.json() == definition

    other = f"/api/v2/projects/{project['id']}/pipeline-definitions/{uuid.uuid4()}"
    assert (await clients.developer.get(other)).status_code == 404
    for missing in (str(uuid.uuid4()), "not-a-uuid"):
        resp = await clients.developer.get(f"/api/v2/projects/{missing}/pipeline-definitions")
        assert (resp.status_code, resp.json()) == (404, {"message": "Project not found"})
    anonymous = await clients.anonymous.get(f"/api/v2/projects/{project['id']}/pipeline-definitions")
    assert anonymous.status_code == 401


async def test_run_triggers_on_the_branch_or_tag_with_parameters(
    clients: Clients,
    project: dict[str, Any],
) -> None:
    definition = str(uuid.uuid5(MCP_NAMESPACE, project["id"]))
    feature_sha = git(project["repo"], "rev-parse", "feature/x")
    body = {"definition_id": definition, "config": {"branch": "feature/x"}, "checkout": {"branch": "feature/x"},
            "parameters": {"greeting": "bonjour"}}  # fmt: skip
    on_branch = await pipeline_of(clients.developer, await clients.developer.post(RUN, json=body))
    assert on_branch["vcs"]["branch"] == "feature/x" and on_branch["vcs"]["revision"] == feature_sha
    assert on_branch["trigger"]["type"] == "api" and on_branch["trigger"]["actor"]["login"] == "dev"
    assert on_branch["state"] == "created" and on_branch["number"] == project["first_pipeline"]["number"] + 1
    assert "bonjour from feature/x" in on_branch["compiled"]

    # Only one of config and checkout may name the ref; nothing at all means the default branch.
    on_tag = await pipeline_of(clients.admin, await clients.admin.post(RUN, json={
        "definition_id": definition, "checkout": {"tag": "v1.0"}}))  # fmt: skip
    assert on_tag["vcs"]["tag"] == "v1.0" and on_tag["vcs"]["revision"] == feature_sha
    assert "hello from v1.0" in on_tag["compiled"]
    default = await pipeline_of(clients.admin, await clients.admin.post(RUN, json={"definition_id": definition}))
    assert default["vcs"]["branch"] == "main" and "hello from main" in default["compiled"]

    # pycircleci-style slugs (github/...) name the same project.
    long_slug = await clients.admin.post("/api/v2/project/github/acme/app/pipeline/run", json=body)
    assert long_slug.status_code == 201


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, "definition_id"),
        ({"definition_id": "nope"}, "definition_id"),
        ({"definition_id": "{definition}", "config": {"branch": "a", "tag": "b"}}, "not both"),
        ({"definition_id": "{definition}", "config": {"branch": "a"}, "checkout": {"branch": "b"}}, "same branch"),
        ({"definition_id": "{definition}", "config": {"revision": "abc"}}, "revision"),
        ({"definition_id": "{definition}", "branch": "main"}, "branch"),
        ({"definition_id": "{definition}", "parameters": {"p": "v" * 513}}, "longer than 512"),
        ({"definition_id": "{definition}", "parameters": {"p": [1]}}, "parameters"),
        ("not json", ""),
    ],
)
async def test_bad_bodies_are_400(
    clients: Clients,
    project: dict[str, Any],
    body: Any,
    expected: str,
) -> None:
    definition = str(uuid.uuid5(MCP_NAMESPACE, project["id"]))
    if isinstance(body, dict):
        body = {k: (v.replace("{definition}", definition) if isinstance(v, str) else v) for k, v in body.items()}
        resp = await clients.admin.post(RUN, json=body)
    else:
        resp = await clients.admin.post(RUN, content=body, headers={"content-type": "application/json"})
    assert resp.status_code == 400, resp.text
    assert expected in resp.json()["message"]


async def test_unknown_definition_or_project_is_404(clients: Clients, project: dict[str, Any]) -> None:
    resp = await clients.admin.post(RUN, json={"definition_id": str(uuid.uuid4())})
    assert (resp.status_code, resp.json()) == (404, {"message": "Pipeline definition not found"})
    definition = str(uuid.uuid5(MCP_NAMESPACE, project["id"]))
    missing = await clients.admin.post("/api/v2/project/gh/acme/other/pipeline/run", json={"definition_id": definition})
    assert (missing.status_code, missing.json()) == (404, {"message": "Project not found"})
    anonymous = await clients.anonymous.post(RUN, json={"definition_id": definition})
    assert anonymous.status_code == 401
    listed = (await clients.admin.get("/api/v2/project/gh/acme/app/pipeline")).json()["items"]
    assert len(listed) == 1  # none of these made a pipeline
