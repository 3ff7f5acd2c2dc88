"""POST /hooks/git: a repository's git hook says its refs changed; scan followed repositories now.

It carries no data that is trusted: it only makes the ref watcher look sooner than its next tick.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from rondo.server.services import Services, services

router = APIRouter(tags=["hooks"])


@router.post("/hooks/git", status_code=202)
async def git_hook(svc: Services = Depends(services)) -> dict[str, Any]:
    svc.ref_watcher.poke()
    return {"message": "Accepted."}
