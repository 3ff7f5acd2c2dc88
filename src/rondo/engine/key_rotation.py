"""`rondo keys rotate`: a new master key, every data key re-wrapped under it, then old keys dropped.

Data keys live beside project and context variables, checkout keys, additional SSH keys and queued
tasks' sealed copies.

The values themselves are not re-encrypted (each keeps its data key), so rotation is quick and runs
beside a live server: the server re-reads the keyring when it changes, and both keys unwrap meanwhile.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from rondo.secrets.envelope import SecretBox
from rondo.store import env_vars as env_q
from rondo.store import ssh_keys as key_q
from rondo.store import webhooks as webhook_q
from rondo.store.db import Database
from rondo.store.models import CheckoutKey, ContextEnvVar, ProjectEnvVar, ProjectSshKey, Webhook

PAGE = 200
# Wait this long before the final pass, so a value sealed under the old key just before the new
# keyring was written (by a live server) is committed and found.
SETTLE_S = 2.0
MAX_PASSES = 10


@dataclass
class RotationReport:
    new_key: str
    rewrapped: dict[str, int] = field(default_factory=dict)
    dropped_keys: list[str] = field(default_factory=list)


SealedRow = ProjectEnvVar | ContextEnvVar | CheckoutKey | ProjectSshKey | Webhook
SealedModel = type[ProjectEnvVar] | type[ContextEnvVar] | type[CheckoutKey] | type[ProjectSshKey] | type[Webhook]


async def _page(session: AsyncSession, model: SealedModel, after: uuid.UUID | None) -> Sequence[SealedRow]:
    if issubclass(model, Webhook):
        return await webhook_q.webhook_page(session, after, PAGE)
    if issubclass(model, CheckoutKey | ProjectSshKey):
        return await key_q.key_page(session, model, after, PAGE)
    return await env_q.env_var_page(session, model, after, PAGE)


async def _rewrap_table(db: Database, box: SecretBox, model: SealedModel) -> int:
    count = 0
    after: uuid.UUID | None = None
    while True:
        async with db.session() as session:
            rows = await _page(session, model, after)
            for row in rows:
                if not box.wrapper.is_current(row.wrapped_dek):
                    row.wrapped_dek = await box.rewrap(row.wrapped_dek)
                    count += 1
        if len(rows) < PAGE:
            return count
        after = rows[-1].id


async def _rewrap_tasks(db: Database, box: SecretBox) -> int:
    count = 0
    after: uuid.UUID | None = None
    while True:
        async with db.session() as session:
            rows = await env_q.task_secrets_page(session, after, PAGE)
            for row in rows:
                entries = [dict(e) for e in row.entries]
                changed = False
                for entry in entries:
                    if not box.wrapper.is_current(entry["wrapped_dek"]):
                        entry["wrapped_dek"] = await box.rewrap(entry["wrapped_dek"])
                        changed = True
                        count += 1
                if changed:
                    row.entries = entries
        if len(rows) < PAGE:
            return count
        after = rows[-1].task_id


async def _pass(db: Database, box: SecretBox, report: RotationReport) -> int:
    done = 0
    tables: list[tuple[str, SealedModel]] = [
        ("project_env_vars", ProjectEnvVar),
        ("context_env_vars", ContextEnvVar),
        ("checkout_keys", CheckoutKey),
        ("project_ssh_keys", ProjectSshKey),
        ("webhooks", Webhook),
    ]
    for label, model in tables:
        n = await _rewrap_table(db, box, model)
        report.rewrapped[label] = report.rewrapped.get(label, 0) + n
        done += n
    n = await _rewrap_tasks(db, box)
    report.rewrapped["task_secrets"] = report.rewrapped.get("task_secrets", 0) + n
    done += n
    return done


async def rotate_keys(db: Database, box: SecretBox, *, settle_s: float = SETTLE_S) -> RotationReport:
    new_key = await asyncio.to_thread(box.wrapper.rotate) if box.wrapper.blocking else box.wrapper.rotate()
    report = RotationReport(new_key=new_key)
    await _pass(db, box, report)
    for _ in range(MAX_PASSES):
        await asyncio.sleep(settle_s)
        if not await _pass(db, box, report):
            break
    else:
        raise RuntimeError("data keys kept appearing under the old master key; run `rondo keys rotate` again")
    report.dropped_keys = box.wrapper.forget_old_keys()
    return report
