"""Queries on the settings administrators change at run time."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from rondo.store.models import SystemSetting
from rondo.store.types import utcnow


async def all_settings(session: AsyncSession) -> dict[str, Any]:
    return {s.name: s.value for s in (await session.execute(select(SystemSetting))).scalars()}


async def put_setting(session: AsyncSession, name: str, value: Any) -> None:
    row = await session.get(SystemSetting, name)
    if row is None:
        session.add(SystemSetting(name=name, value=value, updated_at=utcnow()))
    else:
        row.value = value
        row.updated_at = utcnow()
