"""The janitor: deletes what is older than the Storage Object Expiry (days; 0 keeps everything).

Artifacts, test results, caches, workspace layers and step output go, objects first and then rows.
Uploads an agent was granted but never committed (it died mid-way) go after `pending_ttl_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from rondo.objects import ObjectStore, ObjectStoreError
from rondo.store import artifacts as artifact_q
from rondo.store import caches as cache_q
from rondo.store import retention as retention_q
from rondo.store import test_results as test_q
from rondo.store import workspaces as layer_q
from rondo.store.db import Database
from rondo.store.types import utcnow

log = logging.getLogger(__name__)

OUTPUT_BATCH = 500
NEVER = datetime(1970, 1, 1, tzinfo=UTC)


class _Row(Protocol):
    object_key: str


@dataclass
class SweepReport:
    deleted: dict[str, int] = field(default_factory=dict)

    def add(self, what: str, count: int) -> None:
        if count:
            self.deleted[what] = self.deleted.get(what, 0) + count


class Janitor:
    def __init__(
        self,
        db: Database,
        objects: ObjectStore,
        *,
        expiry_days: int,
        pending_ttl_s: float = 6 * 3600.0,
        interval_s: float = 3600.0,
    ) -> None:
        self._db = db
        self._objects = objects
        self._expiry = timedelta(days=expiry_days) if expiry_days > 0 else None
        self._pending_ttl = timedelta(seconds=pending_ttl_s)
        self._interval_s = interval_s

    async def _delete_objects(self, rows: Sequence[_Row]) -> None:
        for row in rows:
            try:
                await self._objects.delete(row.object_key)
            except ObjectStoreError as exc:  # the row goes anyway; a stray object is harmless
                log.warning("janitor: cannot delete %s: %s", row.object_key, exc)

    async def sweep(self, now: datetime | None = None) -> SweepReport:
        now = now or utcnow()
        cutoff = now - self._expiry if self._expiry else NEVER
        pending = now - self._pending_ttl
        report = SweepReport()
        queries: list[tuple[str, Any]] = [("caches", cache_q), ("workspace layers", layer_q), ("artifacts", artifact_q)]
        for what, queries_of in queries:
            async with self._db.session() as session:
                rows = await queries_of.expired(session, cutoff, pending)
            await self._delete_objects(rows)
            async with self._db.session() as session:
                await queries_of.drop(session, [r.id for r in rows])
            report.add(what, len(rows))
        if self._expiry is not None:
            async with self._db.session() as session:
                report.add("test results", await test_q.drop_before(session, cutoff))
            report.add("step outputs", await self._expire_output(cutoff))
        if report.deleted:
            log.info("janitor: deleted %s", ", ".join(f"{n} {what}" for what, n in report.deleted.items()))
        return report

    async def _expire_output(self, cutoff: datetime) -> int:
        total = 0
        while True:
            async with self._db.session() as session:
                steps = await retention_q.steps_with_output_before(session, cutoff, OUTPUT_BATCH)
                keys = [s.output_key for s in steps if s.output_key]
                for step in steps:
                    step.output_key = None
            for key in keys:
                with contextlib.suppress(ObjectStoreError):
                    await self._objects.delete(key)
            total += len(steps)
            if len(steps) < OUTPUT_BATCH:
                return total

    async def run_loop(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:
                log.exception("the janitor's sweep failed")
            await asyncio.sleep(self._interval_s)
