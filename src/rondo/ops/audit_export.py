"""The audit log as CSV, streamed page by page, so a download of any size uses little memory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

from rondo.ops.audit import csv_lines
from rondo.store import audit as audit_q
from rondo.store.db import Database

PAGE_SIZE = 500


async def csv_stream(
    db: Database, start: datetime | None = None, end: datetime | None = None, *, page_size: int = PAGE_SIZE
) -> AsyncIterator[str]:
    """The header, then the events with start <= occurred_at < end, oldest first; one short transaction a page."""
    yield csv_lines([], header=True)
    after = None
    while True:
        async with db.session() as session:
            page = await audit_q.events_page(session, start=start, end=end, after=after, limit=page_size)
        if page:
            yield csv_lines(page)
            after = (page[-1].occurred_at, page[-1].id)
        if len(page) < page_size:
            return
