"""The read side of the CircleCI API, as real clients use it, against `rondo server` with its built-in agent.

Two pipelines run a two-job workflow on a branch with a slash in its name (the second one's `test`
fails); 22 more cheap pipelines (on a branch the workflow's filters skip) fill more than one page.
Then every read endpoint is checked with httpx2 and through pycircleci 0.7.0, the Python client the
API notes list.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2
import pytest
from pycircleci.api import Api

from tests.conftest import commit_files, git, make_repo
from tests.e2e.server_process import RondoServer, wait_for
from tests.e2e.test_push_runs_jobs import finished_workflow, jobs_by_name, server  # noqa: F401

pytestmark = pytest.mark.e2e

CONFIG = """\
version: 2.1
jobs:
  build:
    machine: true
    resource_class: small
    parallelism: 2
    steps:
      - checkout
      - run: echo "node $CIRCLE_NODE_INDEX on $CIRCLE_BRANCH"
  test:
    machine: true
    steps:
      - checkout
      - run:
          name: Test
          command: echo "testing $CIRCLE_JOB"; test ! -f broken
workflows:
  main:
    jobs:
      - build:
          filters:
            branches:
              only: feature/x
      - test:
          requires: [build]
"""

BRANCH = "feature/x"
PROJECT_KEYS = {"slug", "name", "id", "organization_name", "organization_slug", "organization_id", "vcs_info"}
SHALLOW_KEYS = {
    *("vcs_url", "build_url", "build_num", "branch", "vcs_revision", "committer_name", "committer_email"),
    *("subject", "body", "why", "dont_build", "queued_at", "start_time", "stop_time", "build_time_millis"),
    *("username", "reponame", "lifecycle", "outcome", "status", "retry_of", "previous"),
}


def get(api: httpx2.Client, path: str, **params: Any) -> Any:
    resp = api.get(path, params=params)
    assert resp.status_code == 200, f"{path}: {resp.status_code} {resp.text}"
    assert resp.headers["content-type"].startswith("application/json"), path
    return resp.json()


def error(api: httpx2.Client, path: str, **params: Any) -> tuple[int, Any]:
    resp = api.get(path, params=params)
    assert resp.headers["content-type"].startswith("application/json"), path
    return resp.status_code, resp.json()


def all_pages(api: httpx2.Client, path: str, **params: Any) -> list[list[dict[str, Any]]]:
    """Every page of a v2 list by following `next_page_token`, which is present (null) on the last page."""
    pages = []
    token = None
    while True:
        body = get(api, path, **params, **({"page-token": token} if token else {}))
        assert set(body) == {"items", "next_page_token"}
        pages.append(body["items"])
        token = body["next_page_token"]
        if token is None:
            return pages


def numbers(pages: list[list[dict[str, Any]]]) -> list[list[int]]:
    return [[p["number"] for p in page] for page in pages]


def finished_jobs(api: httpx2.Client, pipeline_id: str, status: str) -> dict[str, dict[str, Any]]:
    wf = finished_workflow(api, pipeline_id)
    assert wf["status"] == status, wf
    return {"workflow": wf, **jobs_by_name(api, wf["id"])}


def newest_pipeline(api: httpx2.Client, number: int) -> dict[str, Any] | None:
    items = get(api, "/api/v2/project/gh/acme/app/pipeline")["items"]
    return items[0] if items and items[0]["number"] == number else None


def run_pipelines(api: httpx2.Client, repo: Path) -> dict[str, Any]:
    """1: following (build, test pass). 2: a push to feature/x (test fails). 3-23: API, filtered out. 24: a push."""
    followed = api.post("/api/v2/project/gh/acme/app", json={"vcs_url": str(repo)})
    assert followed.status_code == 201, followed.text
    first = followed.json()["first_pipeline"]
    assert (first["number"], first["vcs"]["branch"]) == (1, BRANCH)
    good = finished_jobs(api, first["id"], "success")
    commit_files(repo, {"broken": "yes\n"}, "break the tests")
    second = wait_for(lambda: newest_pipeline(api, 2), timeout=20, what="the pipeline of the push to feature/x")
    bad = finished_jobs(api, second["id"], "failed")
    for _ in range(21):
        resp = api.post("/api/v2/project/github/acme/app/pipeline", json={"branch": "quiet"})
        assert resp.status_code == 201, resp.text
    git(repo, "checkout", "-q", "quiet")
    commit_files(repo, {"notes.txt": "a push the ref watcher sees\n"}, "push to quiet")
    wait_for(lambda: newest_pipeline(api, 24), timeout=20, what="the pipeline of the push to quiet")
    return {"pipeline": first, "workflow": good["workflow"], "jobs": good, "bad": bad}


def check_build_details(api: httpx2.Client, run: dict[str, Any], head: str) -> None:
    build, test = run["jobs"]["build"], run["jobs"]["test"]
    details = get(api, f"/api/v1.1/project/github/acme/app/{build['job_number']}")
    assert details["build_num"] == build["job_number"]
    assert (details["lifecycle"], details["outcome"], details["status"]) == ("finished", "success", "success")
    assert (details["failed"], details["canceled"], details["timedout"]) == (False, False, False)
    assert (details["branch"], details["vcs_revision"], details["vcs_tag"]) == (BRANCH, head, None)
    assert (details["subject"], details["body"]) == ("initial commit", "")
    assert (details["author_name"], details["author_email"]) == ("Rondo Test", "test@rondo.invalid")
    assert details["committer_name"] == "Rondo Test" and details["committer_date"].endswith("Z")
    assert (details["username"], details["reponame"], details["vcs_type"]) == ("acme", "app", "github")
    assert details["build_url"].endswith(f"/gh/acme/app/{build['job_number']}")
    assert details["start_time"] and details["stop_time"] and details["queued_at"]
    assert isinstance(details["build_time_millis"], int) and details["build_time_millis"] >= 0
    assert details["parallel"] == 2 and details["previous"] is None and details["retry_of"] is None
    assert details["build_parameters"] == {"CIRCLE_JOB": "build"}
    assert details["user"]["login"] == "admin" and details["user"]["is_user"] is True
    assert details["picard"] == {"executor": "machine", "resource_class": {"class": "small", "cpu": 1.0, "ram": 2048}}
    assert details["workflows"] == {
        "job_name": "build",
        "job_id": build["id"],
        "workflow_id": run["workflow"]["id"],
        "workspace_id": run["workflow"]["id"],
        "workflow_name": "main",
        "pipeline_id": run["pipeline"]["id"],
        "upstream_job_ids": [],
        "upstream_concurrency_map": {},
    }
    assert "jobs:" in details["circle_yml"]["string"]

    echo_command = 'echo "node $CIRCLE_NODE_INDEX on $CIRCLE_BRANCH"'
    assert [s["name"] for s in details["steps"]] == ["Checkout code", echo_command]
    for number, step in enumerate(details["steps"]):  # one action per parallel run, `index` being the run
        actions = [(a["index"], a["step"], a["status"]) for a in step["actions"]]
        assert actions == [(0, number, "success"), (1, number, "success")]
        for action in step["actions"]:
            assert action["start_time"] and action["end_time"] and action["run_time_millis"] >= 0
            assert action["failed"] is None
    echo = details["steps"][1]["actions"]
    assert [a["exit_code"] for a in echo] == [0, 0]
    assert echo[0]["bash_command"] == echo_command
    for action in echo:
        out = httpx2.get(action["output_url"], timeout=30)  # signed: opens without a token
        assert out.status_code == 200, out.text
        text = "".join(m["message"] for m in out.json())
        assert f"node {action['index']} on {BRANCH}" in text

    after = get(api, f"/api/v1.1/project/gh/acme/app/{test['job_number']}")
    assert after["workflows"]["upstream_job_ids"] == [build["id"]]
    assert after["picard"]["resource_class"] == {"class": "medium", "cpu": 2.0, "ram": 4096} and after["parallel"] == 1
    assert get(api, f"/api/v1.1/project/gh%2Facme%2Fapp/{test['job_number']}")["build_num"] == test["job_number"]

    # The second run: started by a push, not a user; its test failed after the first run's passed.
    rebuilt = get(api, f"/api/v1.1/project/github/acme/app/{run['bad']['build']['job_number']}")
    assert rebuilt["previous"] == {
        "build_num": build["job_number"],
        "status": "success",
        "build_time_millis": details["build_time_millis"],
    }
    assert rebuilt["user"] == {"is_user": False, "login": "git", "avatar_url": None, "name": None, "vcs_type": "github"}
    assert rebuilt["subject"] == "break the tests" and rebuilt["vcs_revision"] != head
    failed = get(api, f"/api/v1.1/project/github/acme/app/{run['bad']['test']['job_number']}")
    assert (failed["lifecycle"], failed["outcome"], failed["status"], failed["failed"]) == (
        "finished",
        "failed",
        "failed",
        True,
    )
    assert failed["previous"]["build_num"] == test["job_number"] and failed["previous"]["status"] == "success"
    [action] = failed["steps"][-1]["actions"]
    assert (action["name"], action["status"], action["failed"], action["exit_code"]) == ("Test", "failed", True, 1)

    assert get(api, f"/api/v1.1/project/github/acme/app/{build['job_number']}/artifacts") == []
    assert get(api, f"/api/v1.1/project/github/acme/app/{build['job_number']}/tests")["tests"] == []
    assert get(api, "/api/v1.1/project/github/acme/app/latest/artifacts", branch=BRANCH) == []


def check_build_lists(api: httpx2.Client, run: dict[str, Any]) -> None:
    b1, t2 = run["jobs"]["build"]["job_number"], run["jobs"]["test"]["job_number"]
    b3, t4 = run["bad"]["build"]["job_number"], run["bad"]["test"]["job_number"]
    assert (b1, t2, b3, t4) == (1, 2, 3, 4)
    recent = get(api, "/api/v1.1/project/github/acme/app")
    assert [b["build_num"] for b in recent] == [t4, b3, t2, b1]
    assert recent[0]["workflows"]["job_name"] == "test" and "steps" not in recent[0]
    for name, expected in (("successful", [b3, t2, b1]), ("completed", [t4, b3, t2, b1]), ("failed", [t4])):
        assert [b["build_num"] for b in get(api, "/api/v1.1/project/github/acme/app", filter=name)] == expected
    assert get(api, "/api/v1.1/project/github/acme/app", filter="running") == []
    assert len(get(api, "/api/v1.1/project/github/acme/app", filter="None")) == 4  # the `circleci` client's default
    assert [b["build_num"] for b in get(api, "/api/v1.1/project/gh/acme/app", limit=2, offset=1)] == [b3, t2]
    shallow = get(api, "/api/v1.1/project/github/acme/app", shallow="true")
    assert set(shallow[0]) == SHALLOW_KEYS and shallow[0]["previous"]["build_num"] == t2

    # Everything after /tree/ is the branch, slashes included, escaped or not.
    for branch in (BRANCH, "feature%2Fx"):
        tree = get(api, f"/api/v1.1/project/github/acme/app/tree/{branch}", filter="failed")
        assert [(b["build_num"], b["branch"]) for b in tree] == [(t4, BRANCH)]
    assert get(api, "/api/v1.1/project/github/acme/app/tree/quiet") == []

    everywhere = get(api, "/api/v1.1/recent-builds", limit=5, offset=0)
    assert [(b["build_num"], b["reponame"]) for b in everywhere] == [(n, "app") for n in (t4, b3, t2, b1)]

    me = get(api, "/api/v1.1/me")
    assert (me["login"], me["admin"], me["basic_email_prefs"]) == ("admin", True, "none")
    assert me["num_projects_followed"] == 1

    [project] = get(api, "/api/v1.1/projects")
    assert (project["username"], project["reponame"], project["vcs_type"]) == ("acme", "app", "github")
    assert list(project["branches"]) == ["feature%2Fx"]  # CircleCI URL-encodes the branch keys
    branch = project["branches"]["feature%2Fx"]
    assert [b["build_num"] for b in branch["recent_builds"]] == [t4, b3, t2, b1]
    assert branch["last_success"]["build_num"] == b3 and branch["last_non_success"]["build_num"] == t4
    assert branch["last_non_success"]["outcome"] == "failed"
    assert branch["running_builds"] == [] and branch["pusher_logins"] == ["admin"]  # `git` is no user


def check_v2_reads(api: httpx2.Client, run: dict[str, Any], head: str) -> None:
    pipeline_id = run["pipeline"]["id"]
    config = get(api, f"/api/v2/pipeline/{pipeline_id}/config")
    assert set(config) == {"source", "compiled"} and config["source"] == CONFIG
    assert "resource_class: small" in config["compiled"] and "filters" in config["compiled"]

    values = get(api, f"/api/v2/pipeline/{pipeline_id}/values")
    assert values["pipeline.git.branch"] == BRANCH and values["pipeline.git.revision"] == head
    assert values["pipeline.number"] == 1 and values["pipeline.project.slug"] == "gh/acme/app"
    assert "pipeline.git.tag" not in values  # values that do not apply are left out, not null
    assert all(isinstance(v, str | int | bool) for v in values.values())

    number = run["jobs"]["build"]["job_number"]
    for kind in ("artifacts", "tests"):
        assert get(api, f"/api/v2/project/gh/acme/app/{number}/{kind}") == {"items": [], "next_page_token": None}

    project = get(api, "/api/v2/project/gh%2Facme%2Fapp")
    assert set(project) == PROJECT_KEYS and project["slug"] == "gh/acme/app"
    followed = {"items": [{"name": "app", "slug": "gh/acme/app", "vcs_type": "github"}], "next_page_token": None}
    assert get(api, "/api/private/me/followed-projects") == followed  # what CircleCI's MCP server lists
    assert error(api, "/api/private/me/followed-projects", **{"page-token": "%%%"})[0] == 400
    assert project["vcs_info"]["default_branch"] == BRANCH and project["vcs_info"]["provider"] == "GitHub"

    # Paths are relative to each version's server URL, as CircleCI's spec has them (the CLI probes them).
    v2 = get(api, "/api/v2/openapi.json")
    v1 = get(api, "/api/v1.1/openapi.json")
    assert v2["servers"] == [{"url": "/api/v2"}] and v1["servers"] == [{"url": "/api/v1.1"}]
    for schema, path in (
        (v2, "/pipeline"),
        (v2, "/pipeline/{pipeline_id}/config"),
        (v2, "/pipeline/{pipeline_id}/values"),
        (v2, "/project/{vcs}/{org}/{repo}/pipeline/mine"),
        (v2, "/project/{vcs}/{org}/{repo}/{job_number}/artifacts"),
        (v2, "/project/{vcs}/{org}/{repo}/{job_number}/tests"),
        (v1, "/me"),
        (v1, "/projects"),
        (v1, "/recent-builds"),
        (v1, "/project/{vcs}/{org}/{repo}/tree/{branch}"),
        (v1, "/project/{vcs}/{org}/{repo}/{number}/artifacts"),
    ):
        assert "get" in schema["paths"].get(path, {}), path


def check_v2_pages(api: httpx2.Client) -> None:
    everything = list(range(24, 0, -1))
    mine = [n for n in everything if n not in (24, 2)]  # 2 and 24 were started by pushes, not by the admin
    assert numbers(all_pages(api, "/api/v2/project/gh/acme/app/pipeline")) == [everything[:20], everything[20:]]
    assert numbers(all_pages(api, "/api/v2/project/github/acme/app/pipeline/mine")) == [mine[:20], mine[20:]]
    for org in ("gh/acme", "github/acme"):
        assert numbers(all_pages(api, "/api/v2/pipeline", **{"org-slug": org})) == [everything[:20], everything[20:]]
    assert numbers(all_pages(api, "/api/v2/pipeline", **{"org-slug": "gh/acme", "mine": "true"})) == [
        mine[:20],
        mine[20:],
    ]
    assert [n for page in numbers(all_pages(api, "/api/v2/pipeline")) for n in page] == everything
    quiet = get(api, "/api/v2/project/gh/acme/app/pipeline", branch="quiet")
    assert len(quiet["items"]) == 20 and quiet["next_page_token"]


def check_errors(rondo: RondoServer, api: httpx2.Client) -> None:
    cases = {
        "/api/v1.1/project/github/acme/app/999": (404, "Build not found"),
        "/api/v1.1/project/github/acme/app/999/artifacts": (404, "Build not found"),
        "/api/v1.1/project/github/acme/app/999/tests": (404, "Build not found"),
        "/api/v1.1/project/github/acme/nope/1": (404, "Project not found"),
        "/api/v1.1/project/github/acme/nope": (404, "Project not found"),
        "/api/v1.1/project/bitbucket/acme/app/tree/main": (404, "Project not found"),
        "/api/v2/project/gh/acme/app/999/artifacts": (404, "Job not found"),
        "/api/v2/project/gh/acme/nope/1/tests": (404, "Project not found"),
        "/api/v2/project/gh/acme/nope/pipeline/mine": (404, "Project not found"),
        "/api/v2/pipeline/00000000-0000-0000-0000-000000000000/config": (404, "Pipeline not found"),
        "/api/v2/pipeline/not-a-uuid/values": (404, "Pipeline not found"),
    }
    for path, expected in cases.items():
        status, body = error(api, path)
        assert (status, body) == (expected[0], {"message": expected[1]}), path
    assert error(api, "/api/v2/pipeline", **{"org-slug": "gh/nobody"}) == (404, {"message": "Organization not found"})
    bad_token = {"message": "page-token is not a token this server issued"}
    assert error(api, "/api/v2/pipeline", **{"page-token": "bm9wZQ"}) == (400, bad_token)
    assert error(api, "/api/v2/project/gh/acme/app/pipeline/mine", **{"page-token": "bm9wZQ"}) == (400, bad_token)
    status, body = error(api, "/api/v1.1/project/github/acme/app", limit=101)
    assert status == 400 and "limit" in body["message"]
    anonymous = httpx2.get(rondo.url + "/api/v1.1/me")
    assert (anonymous.status_code, anonymous.json()) == (401, {"message": "You must log in first."})


def check_pycircleci(rondo: RondoServer, run: dict[str, Any]) -> None:
    """The calls API-CLIENTS.md lists for pycircleci; it raises on any 4xx/5xx."""
    c = Api(token=rondo.token, url=rondo.url + "/api")
    build, test = run["jobs"]["build"]["job_number"], run["jobs"]["test"]["job_number"]
    rebuilt, failed = run["bad"]["build"]["job_number"], run["bad"]["test"]["job_number"]
    assert c.get_user_info()["login"] == "admin"  # v1.1
    assert c.get_user_info(api_version="v2")["login"] == "admin"
    (org,) = c.get_user_collaborations()  # GET /api/v2/me/collaborations
    assert (org["slug"], org["vcs-type"], org["name"]) == ("gh/acme", "github", "acme")
    assert [p["reponame"] for p in c.get_projects()] == ["app"]
    summary = c.get_project_build_summary("acme", "app", limit=10, status_filter="successful", branch=BRANCH)
    assert [b["build_num"] for b in summary] == [rebuilt, test, build]
    shallow = c.get_project_build_summary("acme", "app", shallow=True)
    assert [b["build_num"] for b in shallow] == [failed, rebuilt, test, build]
    info = c.get_build_info("acme", "app", build)
    assert info["picard"]["resource_class"]["class"] == "small" and len(info["steps"]) == 2
    assert [b["build_num"] for b in c.get_recent_builds(limit=3)] == [failed, rebuilt, test]
    assert c.get_artifacts("acme", "app", build) == []
    assert c.get_test_metadata("acme", "app", build)["tests"] == []

    assert c.get_project("gh/acme/app")["name"] == "app"
    assert len(c.get_project_pipelines("acme", "app", paginate=True)) == 24
    assert len(c.get_project_pipelines("acme", "app", mine=True, paginate=True)) == 22
    assert [p["number"] for p in c.get_project_pipelines("acme", "app", branch=BRANCH)] == [2, 1]
    assert len(c.get_pipelines("acme", paginate=True)) == 24
    assert len(c.get_pipelines("acme", mine=True, paginate=True)) == 22
    pipeline = c.get_project_pipeline("acme", "app", 1)
    assert c.get_pipeline(pipeline["id"])["number"] == 1
    assert c.get_pipeline_config(pipeline["id"])["source"] == CONFIG
    [wf] = c.get_pipeline_workflow(pipeline["id"])
    assert c.get_workflow(wf["id"])["status"] == "success"
    jobs = {j["name"]: j for j in c.get_workflow_jobs(wf["id"])}
    assert jobs["build"]["job_number"] == build
    details = c.get_job_details("acme", "app", build)
    assert details["executor"] == {"resource_class": "small", "type": "machine"} and details["parallelism"] == 2

    # Insights over the two pipelines on the branch: one success, one failure.
    params = {"branch": BRANCH}
    (summary,) = c.get_project_workflows_metrics("acme", "app", params=params)
    assert summary["name"] == "main"
    m = summary["metrics"]
    assert (m["total_runs"], m["successful_runs"], m["failed_runs"], m["success_rate"]) == (2, 1, 1, 0.5)
    runs = c.get_project_workflow_metrics("acme", "app", "main", params=params)
    assert sorted(r["status"] for r in runs) == ["failed", "success"]
    by_job = {
        j["name"]: j["metrics"] for j in c.get_project_workflow_jobs_metrics("acme", "app", "main", params=params)
    }
    assert by_job["test"]["failed_runs"] == 1 and by_job["build"]["successful_runs"] == 2


def test_read_api_as_clients_use_it(server: RondoServer, tmp_path: Path) -> None:  # noqa: F811
    repo = make_repo(tmp_path / "app", {".circleci/config.yml": CONFIG, "README.md": "# app\n"}, branch=BRANCH)
    head = git(repo, "rev-parse", "HEAD")
    git(repo, "branch", "quiet")
    with server.client() as api:
        run = run_pipelines(api, repo)
        check_build_details(api, run, head)
        check_build_lists(api, run)
        check_v2_reads(api, run, head)
        check_v2_pages(api)
        check_errors(server, api)
    check_pycircleci(server, run)
