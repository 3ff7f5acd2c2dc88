"""Continuation keys of setup pipelines: `CIRCLE_CONTINUATION_KEY`, proof that a caller may continue one.

The key names its pipeline and carries an HMAC of it under the server key, so nothing secret is
stored: the server recomputes the MAC to check a key. That it is used once, and within 6 hours,
is the pipeline's state to enforce.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid

PREFIX = "rondocont_"


def _mac(server_key: bytes, pipeline_id: uuid.UUID) -> str:
    digest = hmac.new(server_key, b"continuation:" + pipeline_id.bytes, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def continuation_key(server_key: bytes, pipeline_id: uuid.UUID) -> str:
    return f"{PREFIX}{pipeline_id.hex}_{_mac(server_key, pipeline_id)}"


def pipeline_of(server_key: bytes, key: str) -> uuid.UUID | None:
    """The pipeline a genuine key belongs to, or None for anything else."""
    if not key.startswith(PREFIX):
        return None
    ident, _, mac = key[len(PREFIX) :].partition("_")
    try:
        pipeline_id = uuid.UUID(hex=ident)
    except ValueError:
        return None
    return pipeline_id if hmac.compare_digest(mac, _mac(server_key, pipeline_id)) else None
