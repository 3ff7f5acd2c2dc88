"""/api/v2/pipeline/{id}/config and /values: the config a pipeline ran and the pipeline values it saw."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from rondo.engine.pipeline_values import pipeline_values
from rondo.server import lookups
from rondo.server.auth import current_user
from rondo.server.services import Services, services
from rondo.store.models import User

router = APIRouter(prefix="/api/v2", tags=["Pipeline"])


@router.get("/pipeline/{pipeline_id}/config")
async def get_pipeline_config(
    pipeline_id: str, user: User = Depends(current_user), svc: Services = Depends(services)
) -> dict[str, str]:
    """The source and compiled config; a continued setup pipeline also has its setup config.

    `source` is empty when no config was read, `compiled` when it did not compile (as the spec says).
    """
    async with svc.db.session() as session:
        pipeline, _project = await lookups.pipeline(session, user, pipeline_id)
    body = {"source": pipeline.config_source or "", "compiled": pipeline.compiled_config or ""}
    if pipeline.setup_config_source is not None:
        body["setup-config"] = pipeline.setup_config_source
        body["compiled-setup-config"] = pipeline.compiled_setup_config or ""
    return body


@router.get("/pipeline/{pipeline_id}/values")
async def get_pipeline_values(
    pipeline_id: str, user: User = Depends(current_user), svc: Services = Depends(services)
) -> dict[str, Any]:
    """The `pipeline.*` values the config was compiled with; values that do not apply are left out."""
    async with svc.db.session() as session:
        pipeline, project = await lookups.pipeline(session, user, pipeline_id)
    values = pipeline_values(pipeline, project, svc.settings.resolved_public_url)
    return {key: value for key, value in values.items() if value is not None}
