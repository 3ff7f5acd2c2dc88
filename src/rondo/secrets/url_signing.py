"""Signed, expiring URLs for things fetched without a token (step output links, like S3 presigned URLs)."""

from __future__ import annotations

import hashlib
import hmac
import time


class BadSignature(Exception):
    """The URL's signature is wrong or it has expired."""


def _mac(key: bytes, path: str, expires: int) -> str:
    return hmac.new(key, f"{path}\n{expires}".encode(), hashlib.sha256).hexdigest()


def sign_path(key: bytes, path: str, ttl_s: int, now: float | None = None) -> str:
    """`path?expires=...&signature=...`, valid for `ttl_s` seconds."""
    expires = int((now if now is not None else time.time()) + ttl_s)
    return f"{path}?expires={expires}&signature={_mac(key, path, expires)}"


def verify_path(key: bytes, path: str, expires: str | None, signature: str | None, now: float | None = None) -> None:
    if not expires or not signature or not expires.isdigit():
        raise BadSignature("the link is not signed")
    if int(expires) < (now if now is not None else time.time()):
        raise BadSignature("the link has expired")
    if not hmac.compare_digest(_mac(key, path, int(expires)), signature):
        raise BadSignature("the link's signature does not match")
