"""The pipeline page's buttons: approve a hold, cancel, rerun; forms must carry the session's CSRF token."""

from __future__ import annotations

import re
from pathlib import Path

import httpx2

from tests.engine.harness import InProcessServer, wait_for
from tests.engine.test_engine_with_fake_agent import fake_agent, follow, server  # noqa: F401
from tests.engine.test_workflow_actions import HOLD, jobs, workflow_in, workflows

FINAL = {"success", "failed", "error", "canceled", "not_run"}


async def test_approve_and_rerun_from_the_pipeline_page(server: InProcessServer, tmp_path: Path) -> None:  # noqa: F811
    async with server.api() as api, fake_agent(server, tmp_path):
        pipeline = await follow(api, tmp_path, HOLD)
        (wf,) = await workflows(api, pipeline["id"])
        await workflow_in(api, wf["id"], {"on_hold"})
        async with httpx2.AsyncClient(base_url=server.url, timeout=30) as browser:
            signed_in = await browser.post("/login", data={"token": server.admin_token})
            assert signed_in.status_code == 303
            page = (await browser.get(f"/pipelines/{pipeline['id']}")).text
            csrf = re.search(r'name="csrf" value="([^"]+)"', page)
            assert csrf and "Approve" in page and "Cancel workflow" in page
            hold = (await jobs(api, wf["id"]))["hold"]
            action = f"/pipelines/{pipeline['id']}/workflows/{wf['id']}"

            forged = await browser.post(f"{action}/approve", data={"csrf": "forged", "job_id": hold["id"]})
            assert forged.status_code == 403
            cross = await browser.post(f"{action}/approve", data={"csrf": csrf.group(1), "job_id": hold["id"]},
                                       headers={"Sec-Fetch-Site": "cross-site"})  # fmt: skip
            assert cross.status_code == 403

            approved = await browser.post(f"{action}/approve", data={"csrf": csrf.group(1), "job_id": hold["id"]})
            assert approved.status_code == 303
            assert (await workflow_in(api, wf["id"], FINAL))["status"] == "success"
            assert (await jobs(api, wf["id"]))["hold"]["status"] == "success"

            page = (await browser.get(f"/pipelines/{pipeline['id']}")).text
            assert "Rerun from start" in page and "Rerun from failed" not in page
            rerun = await browser.post(f"{action}/rerun", data={"csrf": csrf.group(1), "mode": "start"})
            assert rerun.status_code == 303

            async def two() -> list[object] | None:
                found = await workflows(api, pipeline["id"])
                return found if len(found) == 2 else None

            await wait_for(two, what="the rerun workflow")
