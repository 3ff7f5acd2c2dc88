"""Queries on outbound webhooks and their delivery outbox."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from rondo.store.models import Project, Webhook, WebhookDelivery
from rondo.store.projects import works_in_project

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"


async def webhook_by_id(session: AsyncSession, webhook_id: uuid.UUID) -> Webhook | None:
    return await session.get(Webhook, webhook_id)


_PROJECT_OF_WEBHOOK_FOR = (
    select(Project, works_in_project())
    .join(Webhook, Webhook.project_id == Project.id)
    .where(Webhook.id == bindparam("webhook_id"))
)


async def project_of_webhook_for(
    session: AsyncSession, webhook_id: uuid.UUID, user_id: uuid.UUID | None
) -> tuple[Project, bool] | None:
    """The project a webhook belongs to, and whether the user works in its organization."""
    row = (await session.execute(_PROJECT_OF_WEBHOOK_FOR, {"webhook_id": webhook_id, "user_id": user_id})).first()
    return (row[0], bool(row[1])) if row is not None else None


async def project_webhooks(session: AsyncSession, project_id: uuid.UUID) -> list[Webhook]:
    """A project's webhooks, oldest first."""
    stmt = select(Webhook).where(Webhook.project_id == project_id).order_by(Webhook.created_at, Webhook.id)
    return list((await session.execute(stmt)).scalars())


async def count_project_webhooks(session: AsyncSession, project_id: uuid.UUID) -> int:
    stmt = select(func.count()).select_from(Webhook).where(Webhook.project_id == project_id)
    return int((await session.execute(stmt)).scalar_one())


async def webhook_page(session: AsyncSession, after: uuid.UUID | None, limit: int) -> list[Webhook]:
    """Webhooks in id order, for walking all of them (key rotation)."""
    stmt = select(Webhook).order_by(Webhook.id).limit(limit)
    if after is not None:
        stmt = stmt.where(Webhook.id > after)
    return list((await session.execute(stmt)).scalars())


async def drop_deliveries_of(session: AsyncSession, webhook_id: uuid.UUID) -> None:
    await session.execute(delete(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id))


async def deliveries_of(session: AsyncSession, webhook_id: uuid.UUID) -> list[WebhookDelivery]:
    stmt = (
        select(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == webhook_id)
        .order_by(WebhookDelivery.created_at, WebhookDelivery.id)
    )
    return list((await session.execute(stmt)).scalars())


async def due_deliveries(session: AsyncSession, now: datetime, *, limit: int) -> list[WebhookDelivery]:
    """Pending deliveries whose time has come, oldest first, locked so that one sender takes each.

    PostgreSQL skips rows another transaction holds; SQLite has one writer at a time (BEGIN IMMEDIATE).
    """
    stmt = (
        select(WebhookDelivery)
        .where(WebhookDelivery.status == PENDING, WebhookDelivery.next_attempt_at <= now)
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await session.execute(stmt)).scalars())


async def earliest_pending(session: AsyncSession) -> datetime | None:
    stmt = (
        select(WebhookDelivery.next_attempt_at)
        .where(WebhookDelivery.status == PENDING)
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def drop_finished_before(session: AsyncSession, cutoff: datetime) -> int:
    """Forget deliveries that were delivered or given up on before `cutoff`; returns how many."""
    stmt = delete(WebhookDelivery).where(
        WebhookDelivery.status.in_([DELIVERED, FAILED]), WebhookDelivery.finished_at < cutoff
    )
    result = await session.execute(stmt)
    return int(getattr(result, "rowcount", 0) or 0)
