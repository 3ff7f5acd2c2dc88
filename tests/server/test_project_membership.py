"""Projects follow organization membership: to a user who does not work in a project's organization, the
project and everything of it answer 404 as if they did not exist, and lists across projects leave it out.
Administrators see everything, a project API token keeps working for its project, and an organization
that lists nobody stays open to every user."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2
import pytest
from sqlalchemy import event

from rondo.server import lookups
from rondo.server.errors import ApiError
from rondo.store import users as user_q
from tests.server.conftest import ONE_MACHINE_JOB as CONFIG
from tests.server.conftest import Clients

P2 = "/api/v2/project/gh/acme/app"
P1 = "/api/v1.1/project/gh/acme/app"
SCHEDULE = {
    "name": "nightly",
    "attribution-actor": "system",
    "parameters": {"branch": "main"},
    "timetable": {"per-hour": 1, "hours-of-day": [1], "days-of-week": ["MON"]},
}


def ok(resp: httpx2.Response) -> Any:
    assert resp.status_code < 300, (resp.request.method, resp.request.url, resp.status_code, resp.text)
    return resp.json()


@pytest.fixture
async def acme(clients: Clients, tmp_path: Path) -> dict[str, str]:
    """gh/acme/app with a pipeline, its workflow and numbered job, a schedule and a webhook; and gh/other/lib,
    an organization that lists nobody. Ids by name."""
    project = await clients.follow(tmp_path / "app", {".circleci/config.yml": CONFIG})
    await clients.follow(tmp_path / "lib", {".circleci/config.yml": CONFIG}, slug="gh/other/lib")
    pipeline = ok(await clients.admin.get(f"{P2}/pipeline"))["items"][0]
    workflow = ok(await clients.admin.get(f"/api/v2/pipeline/{pipeline['id']}/workflow"))["items"][0]
    job = ok(await clients.admin.get(f"/api/v2/workflow/{workflow['id']}/job"))["items"][0]
    schedule = ok(await clients.admin.post(f"{P2}/schedule", json=SCHEDULE))
    hook = ok(await clients.admin.post("/api/v2/webhook", json={
        "name": "events", "events": ["job-completed"], "url": "https://hooks.example.com/x", "verify-tls": True,
        "signing-secret": "", "scope": {"id": project["id"], "type": "project"},
    }))  # fmt: skip
    return {
        "project": project["id"],
        "org": project["organization_id"],
        "pipeline": pipeline["id"],
        "workflow": workflow["id"],
        "job": str(job["job_number"]),
        "schedule": schedule["id"],
        "webhook": hook["id"],
    }


def reads(ids: dict[str, str]) -> list[str]:
    """A route of each family that reads a project or something of it."""
    n = ids["job"]
    return [
        P2,
        f"{P2}/pipeline",
        f"{P2}/pipeline/1",
        f"/api/v2/pipeline/{ids['pipeline']}",
        f"/api/v2/pipeline/{ids['pipeline']}/workflow",
        f"/api/v2/pipeline/{ids['pipeline']}/config",
        f"/api/v2/workflow/{ids['workflow']}",
        f"/api/v2/workflow/{ids['workflow']}/job",
        f"{P2}/job/{n}",
        f"{P2}/{n}/artifacts",
        f"{P2}/{n}/tests",
        f"{P2}/envvar",
        f"{P2}/checkout-key",
        f"{P2}/settings",
        f"{P2}/schedule",
        f"/api/v2/schedule/{ids['schedule']}",
        f"/api/v2/webhook?scope-id={ids['project']}&scope-type=project",
        f"/api/v2/webhook/{ids['webhook']}",
        f"/api/v2/projects/{ids['project']}/pipeline-definitions",
        "/api/v2/insights/gh/acme/app/workflows",
        "/api/v2/insights/gh/acme/app/flaky-tests",
        P1,
        f"{P1}/tree/main",
        f"{P1}/{n}",
        f"{P1}/{n}/artifacts",
        f"{P1}/envvar",
        f"{P1}/settings",
        f"{P1}/token",
        f"/gh/acme/app/{n}",  # the web UI's pages
        f"/pipelines/{ids['pipeline']}",
        "/projects/gh/acme/app/settings",
    ]


def writes(ids: dict[str, str]) -> list[tuple[str, str, dict[str, Any] | None]]:
    """A route of each family that acts on a project: trigger, cancel, rerun, approve, change settings."""
    wf = f"/api/v2/workflow/{ids['workflow']}"
    return [
        ("POST", f"{P2}/pipeline", {"branch": "main"}),
        ("POST", f"{P1}/tree/main", None),
        ("POST", f"{P1}/build", {"branch": "main"}),
        ("POST", f"{wf}/cancel", None),
        ("POST", f"{wf}/rerun", {"from_failed": False}),
        ("POST", f"{wf}/approve/{ids['workflow']}", None),
        ("POST", f"{P2}/job/{ids['job']}/cancel", None),
        ("POST", f"{P1}/{ids['job']}/retry", None),
        ("POST", f"{P2}/envvar", {"name": "KEY", "value": "secret-value"}),
        ("DELETE", f"{P2}/envvar/KEY", None),
        ("PATCH", f"{P2}/settings", {"advanced": {"oss": True}}),
        ("POST", f"{P1}/checkout-key", {"type": "deploy-key"}),
        ("PATCH", f"/api/v2/schedule/{ids['schedule']}", {"name": "renamed"}),
        ("DELETE", f"/api/v2/schedule/{ids['schedule']}", None),
        ("PUT", f"/api/v2/webhook/{ids['webhook']}", {"name": "renamed"}),
        ("DELETE", f"/api/v2/webhook/{ids['webhook']}", None),
    ]


async def cross_project_lists(client: httpx2.AsyncClient) -> dict[str, set[str]]:
    """The project slugs each list spanning projects shows."""
    pipelines = ok(await client.get("/api/v2/pipeline"))["items"]
    recent = ok(await client.get("/api/v1.1/recent-builds"))
    projects = ok(await client.get("/api/v1.1/projects"))
    followed = ok(await client.get("/api/private/me/followed-projects"))["items"]
    page = await client.get("/")  # the web UI's pipelines page
    assert page.status_code == 200
    return {
        "/": {slug for slug in BOTH if f">{slug}</a>" in page.text},
        "/api/v2/pipeline": {p["project_slug"] for p in pipelines},
        "/api/v1.1/recent-builds": {f"gh/{b['username']}/{b['reponame']}" for b in recent},
        "/api/v1.1/projects": {f"gh/{p['username']}/{p['reponame']}" for p in projects},
        "/api/private/me/followed-projects": {p["slug"] for p in followed},
    }


BOTH = {"gh/acme/app", "gh/other/lib"}
LISTS = ("/", "/api/v2/pipeline", "/api/v1.1/recent-builds", "/api/v1.1/projects", "/api/private/me/followed-projects")


def every_list(slugs: set[str]) -> dict[str, set[str]]:
    return {path: slugs for path in LISTS}


async def test_a_user_outside_the_organization_finds_no_project_until_made_a_member(
    clients: Clients, acme: dict[str, str]
) -> None:
    dev, admin = clients.developer, clients.admin
    # An organization that lists nobody is open to every user (as before members were listed).
    for path in reads(acme):
        assert (await dev.get(path)).status_code == 200, path
    assert await cross_project_lists(dev) == every_list(BOTH)

    assert (await admin.put(f"/api/v2/organizations/{acme['org']}/members/admin")).status_code == 200
    for path in reads(acme):
        resp = await dev.get(path)
        assert resp.status_code == 404, path
        assert "acme" not in resp.text, path
    assert (await dev.get(P2)).json() == {"message": "Project not found"}
    assert (await dev.get(f"/api/v2/pipeline/{acme['pipeline']}")).json() == {"message": "Pipeline not found"}
    assert (await dev.get(f"/api/v2/workflow/{acme['workflow']}")).json() == {"message": "Workflow not found"}
    for method, path, body in writes(acme):
        resp = await dev.request(method, path, json=body)
        assert resp.status_code == 404, (method, path, resp.text)
    made = await dev.post("/api/v2/webhook", json={
        "name": "mine", "events": ["job-completed"], "url": "https://hooks.example.com/y", "verify-tls": True,
        "signing-secret": "", "scope": {"id": acme["project"], "type": "project"},
    })  # fmt: skip
    assert made.status_code == 400 and "is not the id of a project on this server" in made.text
    assert await cross_project_lists(dev) == every_list({"gh/other/lib"})
    assert ok(await dev.get("/api/v1.1/me"))["num_projects_followed"] == 1
    # Nothing changed behind the 404s; administrators still see it all.
    assert len(ok(await admin.get(f"{P2}/pipeline"))["items"]) == 1
    assert ok(await admin.get(f"/api/v2/schedule/{acme['schedule']}"))["name"] == "nightly"
    assert await cross_project_lists(admin) == every_list(BOTH)

    assert (await admin.put(f"/api/v2/organizations/{acme['org']}/members/dev")).status_code == 200
    for path in reads(acme):
        assert (await dev.get(path)).status_code == 200, path
    assert await cross_project_lists(dev) == every_list(BOTH)
    triggered = await dev.post(f"{P2}/pipeline", json={"branch": "main"})
    assert triggered.status_code == 201, triggered.text
    assert (await dev.post(f"{P1}/tree/main")).status_code == 201
    assert (await dev.post(f"{P2}/envvar", json={"name": "KEY", "value": "secret-value"})).status_code == 201


async def test_a_project_token_keeps_working_for_its_project_whoever_the_members_are(
    clients: Clients, acme: dict[str, str]
) -> None:
    made = ok(await clients.admin.post(f"{P1}/token", json={"scope": "all", "label": "bot"}))
    assert (await clients.admin.put(f"/api/v2/organizations/{acme['org']}/members/admin")).status_code == 200
    async with clients.client(made["token"]) as bot:
        assert ok(await bot.get(f"{P1}/{acme['job']}"))["build_num"] == int(acme["job"])
        assert ok(await bot.get(P1))
        assert (await bot.get(f"{P1}/envvar")).status_code == 200
        assert (await bot.post(f"{P1}/envvar", json={"name": "KEY", "value": "secret-value"})).status_code == 201
        assert (await bot.post(f"{P1}/tree/main")).status_code == 201
        # Still only its own project, and still refused on API v2.
        assert (await bot.get("/api/v1.1/project/gh/other/lib")).status_code == 404
        assert (await bot.get(P2)).status_code == 401


async def test_triggering_reads_project_organization_and_membership_in_one_query(
    clients: Clients, acme: dict[str, str]
) -> None:
    """Triggering is a hot path: the membership test rides in the one query that finds the project."""
    assert (await clients.admin.put(f"/api/v2/organizations/{acme['org']}/members/admin")).status_code == 200
    async with clients.svc.db.session() as session:
        dev = await user_q.user_by_login(session, "dev")
        admin = await user_q.user_by_login(session, "admin")
    assert dev is not None and admin is not None
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(clients.svc.db.engine.sync_engine, "before_cursor_execute", count)
    try:
        for who, found in ((dev, False), (admin, True)):
            seen.clear()
            async with clients.svc.db.session() as session:
                if found:
                    project, org = await lookups.project_and_organization(session, who, "gh", "acme", "app")
                    assert (project.slug, str(org.id)) == ("gh/acme/app", acme["org"])
                else:
                    with pytest.raises(ApiError, match="Project not found"):
                        await lookups.project_and_organization(session, who, "gh", "acme", "app")
            assert len([s for s in seen if s.lstrip().upper().startswith("SELECT")]) == 1, seen
    finally:
        event.remove(clients.svc.db.engine.sync_engine, "before_cursor_execute", count)
