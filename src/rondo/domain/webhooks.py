"""Outbound webhooks' rules as CircleCI states them: event names, which URLs may receive, the signature, retries.

Pure functions, so the API, the outbox and the sender share one definition (see docs/webhooks.md).
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Sequence
from urllib.parse import urlsplit

WORKFLOW_COMPLETED = "workflow-completed"
JOB_COMPLETED = "job-completed"
EVENT_TYPES = (WORKFLOW_COMPLETED, JOB_COMPLETED)
SCOPE_TYPES = ("project",)
MAX_PER_PROJECT = 5  # CircleCI: "Projects are limited to 5 outbound webhooks"
MAX_URL = 2000
MAX_NAME = 200
MAX_SECRET = 1000
USER_AGENT = "CircleCI-Webhook/1.0"
SIGNATURE_HEADER = "circleci-signature"

# Top-level `id`s are name-based (CircleCI's are UUID v3/v5 too): the same event for the same webhook
# always has the same id, so a receiver can deduplicate a delivery it gets twice.
_EVENT_NAMESPACE = uuid.UUID("1b671a64-40d5-491e-99b0-da01ff1f3341")


class WebhookError(ValueError):
    """A webhook that cannot be saved as given; the message says what is wrong and what would be right."""


def check_name(name: str) -> str:
    if not name.strip():
        raise WebhookError("name must not be empty: give the webhook a name people recognise")
    if len(name) > MAX_NAME or "\x00" in name:
        raise WebhookError(f"name must be at most {MAX_NAME} characters of text")
    return name


def check_events(events: Sequence[str]) -> list[str]:
    """The subscribed events, each once, in CircleCI's order; raises WebhookError for none or unknown ones."""
    if not events:
        raise WebhookError(f"events must name at least one of {', '.join(EVENT_TYPES)}")
    unknown = [e for e in events if e not in EVENT_TYPES]
    if unknown:
        raise WebhookError(
            f"events has unknown event {', '.join(repr(e) for e in unknown)}; the events are {', '.join(EVENT_TYPES)}"
        )
    return [e for e in EVENT_TYPES if e in events]


def check_url(url: str) -> str:
    """An absolute http(s) URL with a host. CircleCI takes only https; a server on your own network may use http."""
    if not url or len(url) > MAX_URL or any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise WebhookError(
            f"url must be an http:// or https:// address of at most {MAX_URL} characters, without spaces"
        )
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a port that is not a number from 0 to 65535
    except ValueError:
        raise WebhookError(f"url {url!r} is not a valid address, e.g. https://hooks.example.com/circleci") from None
    if parts.scheme.lower() not in ("http", "https"):
        found = f"{parts.scheme}:" if parts.scheme else "no scheme"
        raise WebhookError(
            f"url must start with https:// (or http://); {url!r} has {found}. E.g. https://hooks.example.com/circleci"
        )
    if not parts.hostname:
        raise WebhookError(f"url {url!r} names no host, e.g. https://hooks.example.com/circleci")
    if port == 0:
        raise WebhookError(f"url {url!r} names port 0; leave the port out or give one from 1 to 65535")
    return url


def safe_url(url: str) -> str:
    """The URL without credentials, query or fragment (receivers often keep a token there), for logs and audit."""
    parts = urlsplit(url)
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"


def check_secret(secret: str) -> str:
    if len(secret) > MAX_SECRET or "\x00" in secret:
        raise WebhookError(f"signing-secret must be at most {MAX_SECRET} characters of text")
    return secret


def signature(body: bytes, secret: str) -> str:
    """The `circleci-signature` header: `v1=` and the hex HMAC-SHA256 of the exact body, keyed by the secret."""
    return "v1=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, secret: str, header: str) -> bool:
    """What a receiver does: take `v1` from the comma-separated list and compare in constant time."""
    versions = dict(part.strip().partition("=")[::2] for part in header.split(",") if "=" in part)
    given = versions.get("v1")
    return given is not None and hmac.compare_digest(signature(body, secret)[3:], given)


def event_id(event_type: str, subject_id: uuid.UUID, webhook_id: uuid.UUID) -> uuid.UUID:
    """The payload's `id`: one per event (a workflow's or job's completion) and webhook."""
    return uuid.uuid5(_EVENT_NAMESPACE, f"{event_type}:{subject_id}:{webhook_id}")


def retry_delay_s(failed_attempts: int, base_s: float) -> float:
    """How long to wait after the n-th failed attempt: base, then 4x as long each time (10 s, 40 s, 160 s, ...)."""
    return float(base_s * 4 ** max(failed_attempts - 1, 0))
