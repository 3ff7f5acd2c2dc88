"""/api/v2/me: who the token belongs to."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from rondo.server.auth import current_user
from rondo.store.models import User

router = APIRouter(prefix="/api/v2", tags=["User"])


@router.get("/me")
async def me(user: User = Depends(current_user)) -> dict[str, Any]:
    return {"id": str(user.id), "login": user.login, "name": user.name, "avatar_url": None}
