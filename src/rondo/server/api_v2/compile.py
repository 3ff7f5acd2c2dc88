"""POST /api/v2/compile-config-with-defaults: compile a config the way a pipeline would (API-SURFACE §6.2).

Answers 200 even for an invalid config, with `valid: false` and its errors; an empty or malformed
body is a 400, which is how the CircleCI CLI's probe tells this server supports the REST compile.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request

from rondo import config
from rondo.server.auth import current_user
from rondo.server.errors import ApiError
from rondo.server.services import Services, services
from rondo.store.models import User

router = APIRouter(prefix="/api/v2", tags=["Config"])

MAX_CONFIG_CHARS = 3 * 1024 * 1024


def _body(raw: bytes) -> tuple[str, dict[str, Any], dict[str, Any]]:
    if not raw.strip():
        raise ApiError(400, "the body must be JSON with `config_yaml`: the config text to compile")
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, f"the body is not JSON: {exc}") from None
    if not isinstance(body, dict) or not isinstance(body.get("config_yaml"), str):
        raise ApiError(400, "the body must be a JSON object with `config_yaml`: the config text to compile")
    text = body["config_yaml"]
    if len(text) > MAX_CONFIG_CHARS:
        raise ApiError(400, f"`config_yaml` is longer than {MAX_CONFIG_CHARS} characters")
    options = body.get("options") or {}
    if not isinstance(options, dict):
        raise ApiError(400, "`options` must be an object")
    parameters = options.get("pipeline_parameters") or {}
    values = options.get("pipeline_values") or {}
    if not isinstance(parameters, dict) or not isinstance(values, dict):
        raise ApiError(400, "`options.pipeline_parameters` and `options.pipeline_values` must be objects")
    return text, parameters, values


@router.post("/compile-config-with-defaults")
async def compile_config_with_defaults(
    request: Request, user: User = Depends(current_user), svc: Services = Depends(services)
) -> dict[str, Any]:
    text, parameters, supplied = _body(await request.body())
    values = config.local_pipeline_values()
    values.update({k: v for k, v in supplied.items() if isinstance(k, str) and k.startswith("pipeline.")})
    try:
        compiled = await svc.pipelines.compile(text, values, parameters, await svc.memberships.orb_viewer(user))
    except config.ConfigErrors as exc:
        return {
            "valid": False,
            "source-yaml": text,
            "output-yaml": "",
            "errors": [{"message": str(e)} for e in exc.errors],
        }
    return {"valid": True, "source-yaml": text, "output-yaml": compiled.processed_yaml, "errors": []}
