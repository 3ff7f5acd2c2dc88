"""v1.1 /me: the signed-in user in v1's shape (pycircleci's `me()` calls this one by default)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from rondo.server import lookups
from rondo.server.auth import current_user
from rondo.server.services import Services, services
from rondo.server.shapes import iso
from rondo.store import projects as project_q
from rondo.store.models import User

router = APIRouter(prefix="/api/v1.1", tags=["v1.1"])


@router.get("/me")
async def me(user: User = Depends(current_user), svc: Services = Depends(services)) -> dict[str, Any]:
    async with svc.db.session() as session:
        # users follow every project they may see: those of the organizations they work in
        followed = len(await project_q.all_projects(session, lookups.member_filter(user)))
    return {
        "login": user.login,
        "name": user.name,
        "admin": user.is_admin,
        "avatar_url": None,
        "selected_email": None,
        "all_emails": [],
        "basic_email_prefs": "none",  # Rondo sends no build emails
        "created_at": iso(user.created_at),
        "num_projects_followed": followed,
        "user_key_fingerprint": None,
    }
