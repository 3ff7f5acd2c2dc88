"""HashiCorp Vault transit as the master key (settings: URL, transit path, token, key name), through hvac.

Vault holds the key; Rondo sends it data keys to encrypt and decrypt, and never sees the key itself.
Wrapped data keys are Vault's own ciphertexts (`vault:v<N>:...`). Rotation is transit's `rotate`
followed by `rewrap` of every data key, which Vault does without revealing them.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import hvac
import hvac.exceptions
import requests

from rondo.secrets.envelope import SecretsError


@dataclass(frozen=True)
class VaultSettings:
    url: str
    token: str
    transit_path: str = "transit"
    key_name: str = "rondo"
    timeout_s: float = 10.0


class VaultTransit:
    """A `KeyWrapper` backed by a Vault transit key (created as `aes256-gcm96` if it does not exist)."""

    blocking = True

    def __init__(self, settings: VaultSettings, *, create_key: bool = True) -> None:
        self.settings = settings
        self._client = hvac.Client(url=settings.url, token=settings.token, timeout=settings.timeout_s)
        self._transit = self._client.secrets.transit
        self._created = not create_key
        self._latest: int | None = None

    def _do(self, what: str, fn: Any, **kwargs: Any) -> Any:
        try:
            if not self._created:
                self._ensure_key()
            return fn(name=self.settings.key_name, mount_point=self.settings.transit_path, **kwargs)
        except hvac.exceptions.Forbidden:
            raise SecretsError(f"Vault refused to {what}: the token lacks permission on the transit key") from None
        except hvac.exceptions.VaultError as exc:
            raise SecretsError(f"Vault could not {what}: {exc}") from None
        except requests.RequestException as exc:
            raise SecretsError(f"Vault at {self.settings.url} cannot be reached to {what}: {exc}") from None

    def _ensure_key(self) -> None:
        self._created = True
        try:
            self._transit.read_key(name=self.settings.key_name, mount_point=self.settings.transit_path)
        except hvac.exceptions.InvalidPath:
            self._transit.create_key(
                name=self.settings.key_name, key_type="aes256-gcm96", mount_point=self.settings.transit_path
            )

    def latest_version(self) -> int:
        body = self._do("read the transit key", self._transit.read_key)
        self._latest = int(body["data"]["latest_version"])
        return self._latest

    def wrap(self, dek: bytes) -> str:
        body = self._do("encrypt a data key", self._transit.encrypt_data, plaintext=base64.b64encode(dek).decode())
        return str(body["data"]["ciphertext"])

    def unwrap(self, wrapped: str) -> bytes:
        if not wrapped.startswith("vault:"):
            raise SecretsError("the data key was not wrapped by Vault transit; configure the keyring that wrapped it")
        body = self._do("decrypt a data key", self._transit.decrypt_data, ciphertext=wrapped)
        return base64.b64decode(body["data"]["plaintext"])

    def rewrap(self, wrapped: str) -> str:
        if not wrapped.startswith("vault:"):
            raise SecretsError("the data key was wrapped by the local keyring; re-create the value to move it to Vault")
        body = self._do("re-wrap a data key", self._transit.rewrap_data, ciphertext=wrapped)
        return str(body["data"]["ciphertext"])

    def is_current(self, wrapped: str) -> bool:
        latest = self._latest if self._latest is not None else self.latest_version()
        return wrapped.startswith(f"vault:v{latest}:")

    def rotate(self) -> str:
        self._do("rotate the transit key", self._transit.rotate_key)
        return f"{self.settings.key_name} v{self.latest_version()}"

    def forget_old_keys(self) -> list[str]:
        # Old key versions stay in Vault: trimming them (min_decryption_version) is the Vault operator's call.
        return []
