"""Sends the outbox's webhook deliveries: signed POSTs, short timeouts, retries with backoff, off the engine's path.

A pass takes the due deliveries (each pushed forward by a lease, so a sender that dies mid-send leaves
it to be sent again), sends them at once, and records every attempt. A 2xx answer delivers; anything
else (another status, a timeout, a refused connection, a bad certificate) is tried again after
`retry_delay_s` until `max_attempts`, then given up. Deliveries are at least once: receivers
deduplicate by the payload's `id`, as CircleCI tells them to.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx2

from rondo.domain.waiting import wait_event
from rondo.domain.webhooks import SIGNATURE_HEADER, USER_AGENT, retry_delay_s, safe_url, signature
from rondo.secrets.envelope import Sealed, SecretBox, SecretsError, webhook_secret_aad
from rondo.store import webhooks as webhook_q
from rondo.store.db import Database
from rondo.store.models import WebhookDelivery
from rondo.store.types import utcnow

log = logging.getLogger(__name__)

MAX_SLEEP_S = 60.0
MIN_SLEEP_S = 0.05
PRUNE_EVERY_S = 3600.0
MAX_ERROR = 500


@dataclass(frozen=True)
class SenderSettings:
    timeout_s: float = 10.0  # CircleCI: "The timeout period is currently 10 seconds"
    max_attempts: int = 5
    retry_base_s: float = 10.0  # then 40 s, 160 s, 640 s: the last try about 14 minutes after the first
    lease_s: float = 30.0  # a taken delivery is not taken again for this long (more than timeout_s)
    batch: int = 20
    keep_days: float = 7.0  # delivered and given-up deliveries are forgotten after this


@dataclass(frozen=True)
class _Taken:
    delivery_id: uuid.UUID
    webhook_id: uuid.UUID
    event_type: str
    payload: str
    url: str
    verify_tls: bool
    sealed_secret: Sealed


@dataclass(frozen=True)
class Attempt:
    at: datetime
    status_code: int | None
    error: str | None
    ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    def as_json(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "status_code": self.status_code, "error": self.error, "ms": self.ms}


class WebhookSender:
    """The background sender (`run_loop` in the server); woken by the outbox, else it wakes when a retry is due."""

    def __init__(
        self, db: Database, box: SecretBox, wake: asyncio.Event, settings: SenderSettings | None = None
    ) -> None:
        self._db = db
        self._box = box
        self._wake = wake
        self.settings = settings or SenderSettings()
        self._clients: dict[bool, httpx2.AsyncClient] = {}
        self._last_prune: float | None = None

    def _client(self, verify_tls: bool) -> httpx2.AsyncClient:
        client = self._clients.get(verify_tls)
        if client is None:
            client = self._clients[verify_tls] = httpx2.AsyncClient(
                verify=verify_tls,
                timeout=httpx2.Timeout(self.settings.timeout_s),
                follow_redirects=False,
                headers={"User-Agent": USER_AGENT},
            )
        return client

    async def close(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()

    async def __aenter__(self) -> WebhookSender:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def deliver_due(self, now: datetime | None = None) -> int:
        """One pass: send every due delivery (up to a batch) and record the attempts; returns how many."""
        taken = await self._take(now or utcnow())
        if not taken:
            return 0
        attempts = await asyncio.gather(*(self._send(t) for t in taken))
        await self._record(taken, attempts)
        return len(taken)

    async def _take(self, now: datetime) -> list[_Taken]:
        lease_until = now + timedelta(seconds=self.settings.lease_s)
        taken: list[_Taken] = []
        async with self._db.session() as session:
            for row in await webhook_q.due_deliveries(session, now, limit=self.settings.batch):
                hook = await webhook_q.webhook_by_id(session, row.webhook_id)
                assert hook is not None, "deliveries go with their webhook"
                row.next_attempt_at = lease_until
                taken.append(
                    _Taken(
                        delivery_id=row.id,
                        webhook_id=hook.id,
                        event_type=row.event_type,
                        payload=row.payload,
                        url=hook.url,
                        verify_tls=hook.verify_tls,
                        sealed_secret=Sealed(hook.wrapped_dek, hook.ciphertext),
                    )
                )
        return taken

    async def _send(self, taken: _Taken) -> Attempt:
        at, started = utcnow(), time.monotonic()

        def outcome(status_code: int | None, error: str | None = None) -> Attempt:
            return Attempt(
                at, status_code, error[:MAX_ERROR] if error else None, int((time.monotonic() - started) * 1000)
            )

        try:
            secret = await self._box.open(taken.sealed_secret, webhook_secret_aad(taken.webhook_id))
        except SecretsError as exc:
            return outcome(None, f"the signing secret cannot be opened: {exc}")
        body = taken.payload.encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "circleci-event-type": taken.event_type,
            "Circle-Event-Type": taken.event_type,
            "Circle-Delivery-Id": str(taken.delivery_id),
        }
        if secret:
            headers[SIGNATURE_HEADER] = signature(body, secret)
        try:
            # The whole exchange, not each read, has the time limit: a receiver that drips bytes is a timeout.
            async with asyncio.timeout(self.settings.timeout_s):
                client = self._client(taken.verify_tls)
                async with client.stream("POST", taken.url, content=body, headers=headers) as response:
                    return outcome(response.status_code)
        except (TimeoutError, httpx2.TimeoutException):
            return outcome(None, f"no answer within {self.settings.timeout_s:g} s")
        except Exception as exc:  # refused, reset, a bad certificate, a URL httpx2 will not take: all retried
            return outcome(None, f"{type(exc).__name__}: {exc}")

    async def _record(self, taken: list[_Taken], attempts: list[Attempt]) -> None:
        now = utcnow()
        async with self._db.session() as session:
            for item, attempt in zip(taken, attempts, strict=True):
                row = await session.get(WebhookDelivery, item.delivery_id)
                if row is None:
                    continue  # its webhook was deleted meanwhile
                row.attempts += 1
                row.attempt_log = [*row.attempt_log, attempt.as_json()]
                row.last_status_code, row.last_error = attempt.status_code, attempt.error
                if attempt.ok:
                    row.status, row.finished_at, row.next_attempt_at = webhook_q.DELIVERED, now, None
                elif row.attempts >= self.settings.max_attempts:
                    row.status, row.finished_at, row.next_attempt_at = webhook_q.FAILED, now, None
                    log.warning(
                        "webhook %s: gave up on %s %s after %d attempts (last: %s)",
                        item.webhook_id, item.event_type, row.event_id, row.attempts, _outcome(attempt),
                    )  # fmt: skip
                else:
                    delay = retry_delay_s(row.attempts, self.settings.retry_base_s)
                    row.next_attempt_at = now + timedelta(seconds=delay)
                    log.info(
                        "webhook %s: %s to %s failed (%s); trying again in %g s",
                        item.webhook_id, item.event_type, safe_url(item.url), _outcome(attempt), delay,
                    )  # fmt: skip

    async def seconds_to_next(self) -> float:
        """How long until the earliest pending delivery is due, at most MAX_SLEEP_S."""
        async with self._db.session() as session:
            earliest = await webhook_q.earliest_pending(session)
        if earliest is None:
            return MAX_SLEEP_S
        return min(MAX_SLEEP_S, max(0.0, (earliest - utcnow()).total_seconds()))

    async def prune(self, now: datetime | None = None) -> int:
        """Forget deliveries finished more than `keep_days` ago."""
        cutoff = (now or utcnow()) - timedelta(days=self.settings.keep_days)
        async with self._db.session() as session:
            return await webhook_q.drop_finished_before(session, cutoff)

    async def run_loop(self) -> None:
        """Send what is due; sleep until the next retry is due or the outbox gets a delivery."""
        try:
            while True:
                self._wake.clear()
                try:
                    sent = await self.deliver_due()
                    # A full batch: more may be due now. Otherwise a short floor keeps a row another
                    # replica holds for a moment from making this a busy loop.
                    delay = 0.0 if sent >= self.settings.batch else max(MIN_SLEEP_S, await self.seconds_to_next())
                    if self._last_prune is None or time.monotonic() - self._last_prune > PRUNE_EVERY_S:
                        self._last_prune = time.monotonic()
                        await self.prune()
                except Exception:
                    log.exception("sending webhooks failed")
                    delay = MAX_SLEEP_S
                await wait_event(self._wake, delay)
        finally:
            await self.close()


def _outcome(attempt: Attempt) -> str:
    return f"HTTP {attempt.status_code}" if attempt.status_code is not None else str(attempt.error)
