"""/api/v2 schedules on the real app (in process, real database, real git repo): CRUD, refusals, firing."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest
from sqlalchemy import update

from rondo.store import pipelines as pipeline_q
from rondo.store.models import Schedule
from rondo.store.types import utcnow
from tests.server.conftest import Clients

CONFIG = """\
version: 2.1
parameters:
  deploy: {type: boolean, default: false}
jobs:
  build:
    machine: true
    steps:
      - run: echo "<< pipeline.schedule.name >>/<< pipeline.trigger.type >>/<< pipeline.event.name >>/<< pipeline.parameters.deploy >>"
workflows:
  nightly:
    when:
      equal: [scheduled_pipeline, << pipeline.trigger_source >>]
    jobs: [build]
"""  # noqa: E501
HOURLY = {
    "per-hour": 1,
    "hours-of-day": list(range(24)),
    "days-of-week": ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"],
}
SCHEDULES = "/api/v2/project/gh/acme/app/schedule"


@pytest.fixture
async def api(clients: Clients, tmp_path: Path) -> Clients:
    """The app with gh/acme/app followed: its config has a workflow that runs only when scheduled."""
    await clients.follow(tmp_path / "repo", {".circleci/config.yml": CONFIG})
    return clients


def schedule(name: str = "nightly build", **overrides: Any) -> dict[str, Any]:
    body = {
        "name": name,
        "description": "every hour, on main",
        "attribution-actor": "current",
        "parameters": {"branch": "main", "deploy": True},
        "timetable": HOURLY,
    }
    return {**body, **overrides}


async def test_create_read_list_change_delete(api: Clients) -> None:
    created = await api.developer.post(SCHEDULES, json=schedule())
    assert created.status_code == 201, created.text
    body = created.json()
    assert {k: body[k] for k in ("name", "description", "timetable", "parameters", "project-slug")} == {
        "name": "nightly build",
        "description": "every hour, on main",
        "timetable": HOURLY,
        "parameters": {"branch": "main", "deploy": True},
        "project-slug": "gh/acme/app",
    }
    assert {k: body["actor"][k] for k in ("login", "name")} == {"login": "dev", "name": "Developer"}
    assert body["created-at"].endswith("Z") and body["created-at"] == body["updated-at"]

    assert (await api.admin.get(f"/api/v2/schedule/{body['id']}")).json() == body
    listed = await api.admin.get("/api/v2/project/github/acme/app/schedule")
    assert listed.json() == {"items": [body], "next_page_token": None}

    weekly = {"per-hour": 2, "hours-of-day": [4], "days-of-month": [1], "months": ["JAN"]}
    changed = await api.admin.patch(
        f"/api/v2/schedule/{body['id']}",
        json={"name": "monthly", "description": None, "timetable": weekly, "attribution-actor": "system"},
    )
    assert changed.status_code == 200, changed.text
    after = changed.json()
    assert (after["name"], after["description"], after["timetable"]) == ("monthly", None, weekly)
    assert after["parameters"] == body["parameters"] and after["created-at"] == body["created-at"]
    assert after["actor"]["login"] == "system-actor" and after["updated-at"] > body["updated-at"]

    deleted = await api.admin.delete(f"/api/v2/schedule/{body['id']}")
    assert (deleted.status_code, deleted.json()) == (200, {"message": "Schedule deleted."})
    assert (await api.admin.get(f"/api/v2/schedule/{body['id']}")).status_code == 404
    assert (await api.admin.delete(f"/api/v2/schedule/{body['id']}")).status_code == 404
    assert (await api.admin.get(SCHEDULES)).json() == {"items": [], "next_page_token": None}


async def test_list_is_paged(api: Clients) -> None:
    for n in range(23):
        assert (await api.admin.post(SCHEDULES, json=schedule(f"s{n:02}"))).status_code == 201
    first = (await api.admin.get(SCHEDULES)).json()
    assert len(first["items"]) == 20 and first["next_page_token"]
    second = (await api.admin.get(SCHEDULES, params={"page-token": first["next_page_token"]})).json()
    assert second["next_page_token"] is None
    names = [s["name"] for s in first["items"] + second["items"]]
    assert sorted(names) == [f"s{n:02}" for n in range(23)]
    bad = await api.admin.get(SCHEDULES, params={"page-token": "bm90LWEtdG9rZW4"})
    assert bad.status_code == 400 and "page-token" in bad.json()["message"]


async def test_refusals_say_what_is_wrong(api: Clients) -> None:
    async def refused(resp: httpx2.Response, status: int, message: str) -> None:
        assert resp.status_code == status, resp.text
        assert message in resp.json()["message"], resp.json()

    await refused(await api.anonymous.get(SCHEDULES), 401, "You must log in first.")
    await refused(await api.admin.get("/api/v2/project/gh/acme/nope/schedule"), 404, "Project not found")
    await refused(await api.admin.post("/api/v2/project/gh/acme/nope/schedule", json=schedule()), 404, "Project")
    await refused(await api.admin.get("/api/v2/schedule/not-a-uuid"), 404, "Schedule not found")
    await refused(
        await api.admin.patch("/api/v2/schedule/5034460f-c7c4-4c43-9457-de07e2029e7b", json={"name": "x"}),
        404,
        "Schedule not found",
    )
    await refused(
        await api.admin.post(SCHEDULES, json=schedule(timetable={"cron": "0 3 * * *"})),
        400,
        "timetable has unknown field 'cron'; its fields are per-hour, hours-of-day, days-of-week",
    )
    await refused(
        await api.admin.post(SCHEDULES, json=schedule(timetable={**HOURLY, "hours-of-day": [24]})),
        400,
        "hours-of-day has 24; hours are whole numbers from 0 to 23 (UTC)",
    )
    await refused(
        await api.admin.post(SCHEDULES, json=schedule(parameters={"deploy": True})),
        400,
        'parameters must contain "branch" or "tag"',
    )
    await refused(
        await api.admin.post(SCHEDULES, json=schedule(**{"attribution-actor": "me"})), 400, "attribution-actor"
    )
    await refused(await api.admin.post(SCHEDULES, json={"name": "x"}), 400, "timetable")
    await refused(await api.admin.post(SCHEDULES, json=schedule("a\x00b")), 400, "name")

    made = await api.admin.post(SCHEDULES, json=schedule())
    assert made.status_code == 201
    await refused(await api.admin.post(SCHEDULES, json=schedule()), 409, "already has a schedule named 'nightly build'")
    other = (await api.admin.post(SCHEDULES, json=schedule("other"))).json()
    path = f"/api/v2/schedule/{other['id']}"
    await refused(await api.admin.patch(path, json={"name": "nightly build"}), 409, "already has a schedule named")
    await refused(await api.admin.patch(path, json={"name": None}), 400, "name cannot be null")
    await refused(await api.admin.patch(path, json={"timetable": {"per-hour": 1}}), 400, "hours-of-day")
    await refused(await api.admin.patch(path, json={"parameters": {"tag": "v1", "branch": "x"}}), 400, "both")
    assert (await api.admin.get(path)).json() == other  # nothing refused was half-saved


async def test_a_due_schedule_makes_one_pipeline_with_its_values(api: Clients) -> None:
    made = (await api.developer.post(SCHEDULES, json=schedule())).json()
    assert await api.svc.schedules.run_due(utcnow()) == []  # not due yet: it next runs on the hour

    # Hours later (the server was down over several fire times) it fires once, not once per missed time.
    later = utcnow() + timedelta(hours=3)
    (pipeline,) = await api.svc.schedules.run_due(later)
    assert await api.svc.schedules.run_due(later) == []

    shown = (await api.admin.get(f"/api/v2/pipeline/{pipeline.id}")).json()
    assert shown["trigger"]["type"] == "scheduled_pipeline" and shown["trigger"]["actor"]["login"] == "dev"
    assert shown["vcs"]["branch"] == "main" and shown["trigger_parameters"] == {"deploy": True}
    assert shown["state"] == "created" and shown["errors"] == []
    async with api.svc.db.session() as session:
        stored = await pipeline_q.pipeline_by_id(session, pipeline.id)
    assert stored is not None and stored.compiled_config is not None
    assert "nightly build/schedule/schedule/true" in stored.compiled_config
    (workflow,) = (await api.admin.get(f"/api/v2/pipeline/{pipeline.id}/workflow")).json()["items"]
    assert workflow["name"] == "nightly"

    # The system actor runs the next one.
    await api.admin.patch(f"/api/v2/schedule/{made['id']}", json={"attribution-actor": "system"})
    (by_system,) = await api.svc.schedules.run_due(later + timedelta(hours=3))
    assert by_system.trigger_actor == "system-actor"


async def test_the_loop_wakes_when_a_schedule_changes(api: Clients) -> None:
    loop = asyncio.create_task(api.svc.schedules.run_loop())
    try:
        made = (await api.admin.post(SCHEDULES, json=schedule())).json()
        # Make it overdue behind the service's back; the loop sleeps until the next hour unless woken.
        async with api.svc.db.session() as session:
            await session.execute(
                update(Schedule)
                .where(Schedule.name == made["name"])
                .values(next_run_at=utcnow() - timedelta(minutes=1))
            )
        await api.admin.patch(f"/api/v2/schedule/{made['id']}", json={"description": "wake up"})
        for _ in range(100):
            pipelines = (await api.admin.get("/api/v2/project/gh/acme/app/pipeline")).json()["items"]
            if any(p["trigger"]["type"] == "scheduled_pipeline" for p in pipelines):
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError(f"no scheduled pipeline within 10 s: {pipelines}")
    finally:
        loop.cancel()
        with pytest.raises(asyncio.CancelledError):
            await loop
