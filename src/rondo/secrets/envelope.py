"""Envelope encryption: every value sealed by its own AES-256-GCM data key, wrapped by a master key.

The associated data (AAD) names the value's owner and name (`project:<id>|env:<NAME>`), so a sealed
value copied to another owner or name does not open. The master key lives in a `KeyWrapper`: the local
keyring (`rondo.secrets.keyring`) or HashiCorp Vault transit (`rondo.secrets.vault_transit`).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import anyio
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12
DEK_BYTES = 32


class SecretsError(Exception):
    """A value that cannot be sealed or opened: wrong owner, unknown master key, unreachable Vault."""


@dataclass(frozen=True)
class Sealed:
    """What is stored: the wrapped data key and base64(nonce || AES-GCM ciphertext and tag)."""

    wrapped_dek: str
    ciphertext: str


class KeyWrapper(Protocol):
    """Holds the master key: wraps and unwraps data keys. `blocking` ones do I/O and run in a thread."""

    blocking: bool

    def wrap(self, dek: bytes) -> str: ...

    def unwrap(self, wrapped: str) -> bytes: ...

    def rewrap(self, wrapped: str) -> str:
        """The same data key wrapped under the current master key."""
        ...

    def is_current(self, wrapped: str) -> bool:
        """Whether the data key is wrapped under the current master key."""
        ...

    def rotate(self) -> str:
        """Make a new master key current; returns its id. Older keys still unwrap."""
        ...

    def forget_old_keys(self) -> list[str]:
        """Drop master keys other than the current one (after every data key was re-wrapped)."""
        ...


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        raise SecretsError("the sealed value is not valid base64") from None


class SecretBox:
    """Seals and opens values; the one door to the master key for the rest of Rondo."""

    def __init__(self, wrapper: KeyWrapper) -> None:
        self.wrapper = wrapper

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self.wrapper.blocking:
            return await anyio.to_thread.run_sync(fn, *args)
        return fn(*args)

    async def seal(self, value: str, aad: str) -> Sealed:
        dek = os.urandom(DEK_BYTES)
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = AESGCM(dek).encrypt(nonce, value.encode("utf-8"), aad.encode("utf-8"))
        wrapped: str = await self._call(self.wrapper.wrap, dek)
        return Sealed(wrapped_dek=wrapped, ciphertext=_b64(nonce + ciphertext))

    async def open(self, sealed: Sealed, aad: str) -> str:
        dek: bytes = await self._call(self.wrapper.unwrap, sealed.wrapped_dek)
        raw = _unb64(sealed.ciphertext)
        try:
            plain = AESGCM(dek).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad.encode("utf-8"))
        except InvalidTag:
            raise SecretsError(f"the sealed value does not belong to {aad}, or was tampered with") from None
        return plain.decode("utf-8")

    async def rewrap(self, wrapped_dek: str) -> str:
        rewrapped: str = await self._call(self.wrapper.rewrap, wrapped_dek)
        return rewrapped


def env_var_aad(owner_type: str, owner_id: object, name: str) -> str:
    """The associated data of an environment variable: its owner (`project`/`context` and id) and its name."""
    return f"{owner_type}:{owner_id}|env:{name}"


def webhook_secret_aad(webhook_id: object) -> str:
    """The associated data of an outbound webhook's signing secret."""
    return f"webhook:{webhook_id}|signing-secret"
