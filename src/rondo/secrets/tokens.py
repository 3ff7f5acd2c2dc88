"""API (personal and project) and agent tokens: 256-bit random values, stored only as HMAC-SHA256 digests."""

from __future__ import annotations

import hashlib
import hmac
import secrets

USER_TOKEN_PREFIX = "ccipat_"
PROJECT_TOKEN_PREFIX = "cciprj_"  # CircleCI's prefixes, lower-cased: CCIPAT_ personal, CCIPRJ_ project
AGENT_TOKEN_PREFIX = "rondoagt_"

# Token files in the data dir (mode 0600): the first start's admin token, the built-in agent's token.
ADMIN_TOKEN_FILE = "admin-token"
BUILTIN_AGENT_TOKEN_FILE = "builtin-agent-token"


def new_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def token_digest(server_key: bytes, token: str) -> str:
    """The stored form of a token; a slow hash buys nothing for 256-bit random values."""
    return hmac.new(server_key, token.encode(), hashlib.sha256).hexdigest()


def display_prefix(token: str) -> str:
    return token[: len(token.split("_", 1)[0]) + 5]
