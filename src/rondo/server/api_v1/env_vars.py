"""v1.1 /project/:vcs/:org/:repo/envvar: bare arrays and objects of `{name, value}`, values masked.

Project API tokens work here: `view-builds` reads (masked), `all` also creates and deletes.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from rondo.server.actions import project_writer_origin
from rondo.server.api_v2.env_vars import add_env_var_routes
from rondo.server.auth import build_viewer, project_writer
from rondo.store.models import ProjectEnvVar

router = APIRouter(prefix="/api/v1.1", tags=["v1.1"])


def env_var_json(row: ProjectEnvVar) -> dict[str, Any]:
    return {"name": row.name, "value": row.masked_value}


add_env_var_routes(router, env_var_json, lambda items: items, "ok", build_viewer, project_writer_origin, project_writer)
