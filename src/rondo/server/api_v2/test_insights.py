"""/api/v2/insights: a project's flaky tests, and the test metrics of a workflow's newest runs.

`flaky-tests` is an object, not a paged list, with snake_case keys as CircleCI really answers (its
spec writes them in kebab-case; clients such as the MCP server read snake_case).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from rondo.domain.test_insights import FlakyTest
from rondo.engine.test_insights import project_flaky_tests, workflow_test_metrics
from rondo.server import lookups
from rondo.server.auth import current_user
from rondo.server.services import Services, services
from rondo.server.shapes import iso
from rondo.store.models import User
from rondo.store.types import utcnow

router = APIRouter(prefix="/api/v2/insights", tags=["Insights"])


def flaky_json(test: FlakyTest) -> dict[str, Any]:
    last = test.last
    return {
        "time_wasted": test.time_wasted,
        "workflow_created_at": iso(last.workflow_created_at),
        "classname": test.key.classname,
        "job_number": last.job_number,
        "times_flaked": test.times_flaked,
        "source": last.source,
        "pipeline_number": last.pipeline_number,
        "file": test.key.file or "",
        "workflow_name": last.workflow_name,
        "job_name": test.key.job_name,
        "test_name": test.key.name,
        "workflow_id": last.workflow_id,
    }


@router.get("/{vcs}/{org}/{repo}/flaky-tests")
async def flaky_tests(
    vcs: str, org: str, repo: str, user: User = Depends(current_user), svc: Services = Depends(services)
) -> dict[str, Any]:
    """Tests that passed and failed on the same commit, on any branch, flaked within the last two weeks."""
    async with svc.db.session() as session:
        project = await lookups.project(session, user, vcs, org, repo)
        found = await project_flaky_tests(session, project.id, utcnow())
    return {"flaky_tests": [flaky_json(t) for t in found], "total_flaky_tests": len(found)}


@router.get("/{vcs}/{org}/{repo}/workflows/{workflow_name}/test-metrics")
async def test_metrics(
    vcs: str, org: str, repo: str, workflow_name: str,
    branch: str | None = Query(None), all_branches: bool = Query(False, alias="all-branches"),
    user: User = Depends(current_user), svc: Services = Depends(services),
) -> dict[str, Any]:  # fmt: skip
    """Per-test metrics of the workflow's 10 newest runs on a branch (the default one unless named)."""
    async with svc.db.session() as session:
        project = await lookups.project(session, user, vcs, org, repo)
        chosen = None if all_branches else (branch or project.default_branch)
        return await workflow_test_metrics(session, project.id, workflow_name, chosen, utcnow())
