"""What the conductor tells when a job or a workflow reaches a final status (outbound webhooks listen).

Called inside the transaction that decided the status, so a listener's writes commit with it; a
listener must only record (never wait on the network).
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from rondo.store.models import Job, Workflow


class CompletionListener(Protocol):
    async def job_completed(self, session: AsyncSession, job: Job) -> None: ...

    async def workflow_completed(self, session: AsyncSession, workflow: Workflow) -> None: ...


class NoCompletions:
    """The listener when nobody listens."""

    async def job_completed(self, session: AsyncSession, job: Job) -> None:
        return None

    async def workflow_completed(self, session: AsyncSession, workflow: Workflow) -> None:
        return None
