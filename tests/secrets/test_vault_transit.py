"""The Vault transit backend against a contract test of the transit API (a fake Vault on loopback, via hvac).

The first test pins the contract itself (what Vault's API documentation says requests and answers
look like); the others run Rondo's `VaultTransit` through hvac against it.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from rondo.engine.workflow_actions import ActionError
from rondo.ops.audit import SYSTEM, Origin
from rondo.secrets.envelope import SecretBox, SecretsError, env_var_aad
from rondo.secrets.vault_transit import VaultSettings, VaultTransit
from rondo.server.app import build_services
from rondo.settings import Settings
from rondo.store import projects as project_q
from rondo.store.models import Project
from tests.secrets.fake_vault import FakeVault

TOKEN = "hvs.test-token"


@pytest.fixture
def vault() -> Iterator[FakeVault]:
    with FakeVault(TOKEN) as fake:
        yield fake


def transit(vault: FakeVault, token: str = TOKEN) -> VaultTransit:
    return VaultTransit(VaultSettings(url=vault.url, token=token, transit_path="transit", key_name="rondo"))


def test_the_transit_api_contract(vault: FakeVault) -> None:
    api = httpx2.Client(base_url=vault.url + "/v1/transit", headers={"X-Vault-Token": TOKEN})
    assert api.get("/keys/rondo").status_code == 404
    assert api.post("/keys/rondo", json={"type": "aes256-gcm96"}).status_code in (200, 204)
    key = api.get("/keys/rondo").json()["data"]
    assert (key["type"], key["latest_version"]) == ("aes256-gcm96", 1)
    plaintext = base64.b64encode(b"a data key").decode()
    ciphertext = api.post("/encrypt/rondo", json={"plaintext": plaintext}).json()["data"]["ciphertext"]
    assert ciphertext.startswith("vault:v1:")
    assert api.post("/decrypt/rondo", json={"ciphertext": ciphertext}).json() == {"data": {"plaintext": plaintext}}
    assert api.post("/keys/rondo/rotate").status_code in (200, 204)
    rewrapped = api.post("/rewrap/rondo", json={"ciphertext": ciphertext}).json()["data"]["ciphertext"]
    assert rewrapped.startswith("vault:v2:")
    bad = api.post("/decrypt/rondo", json={"ciphertext": ciphertext[:-4] + "AAAA"})
    assert bad.status_code == 400 and bad.json()["errors"]
    denied = httpx2.post(vault.url + "/v1/transit/encrypt/rondo", json={"plaintext": plaintext})
    assert (denied.status_code, denied.json()) == (403, {"errors": ["permission denied"]})


async def test_values_sealed_with_vault_holding_the_master_key(vault: FakeVault) -> None:
    box = SecretBox(transit(vault))
    aad = env_var_aad("project", "p1", "AWS_SECRET")
    sealed = await box.seal("aws-secret-value", aad)
    assert sealed.wrapped_dek.startswith("vault:v1:")  # the key was created on first use
    assert "aws-secret-value" not in sealed.ciphertext
    assert await box.open(sealed, aad) == "aws-secret-value"
    with pytest.raises(SecretsError):
        await box.open(sealed, env_var_aad("project", "p2", "AWS_SECRET"))
    # Vault only ever saw data keys, never the value
    assert ("POST", "/v1/transit/encrypt/rondo") in vault.requests


async def test_rotation_in_vault_rewraps_without_revealing_data_keys(vault: FakeVault) -> None:
    wrapper = transit(vault)
    box = SecretBox(wrapper)
    aad = env_var_aad("context", "c1", "TOKEN")
    sealed = await box.seal("token-value", aad)
    assert wrapper.is_current(sealed.wrapped_dek)
    assert wrapper.rotate() == "rondo v2"
    assert not wrapper.is_current(sealed.wrapped_dek)
    rewrapped = await box.rewrap(sealed.wrapped_dek)
    assert rewrapped.startswith("vault:v2:") and wrapper.is_current(rewrapped)
    assert ("POST", "/v1/transit/rewrap/rondo") in vault.requests
    assert await box.open(type(sealed)(rewrapped, sealed.ciphertext), aad) == "token-value"
    assert wrapper.forget_old_keys() == []  # trimming old versions is the Vault operator's call


async def test_a_bad_token_or_a_missing_vault_says_so(vault: FakeVault) -> None:
    with pytest.raises(SecretsError, match="Vault refused"):
        await SecretBox(transit(vault, token="wrong")).seal("x" * 8, "a")
    gone = VaultTransit(VaultSettings(url="http://127.0.0.1:9", token=TOKEN, timeout_s=2))
    with pytest.raises(SecretsError, match="cannot be reached"):
        await SecretBox(gone).seal("x" * 8, "a")
    with pytest.raises(SecretsError, match="not wrapped by Vault transit"):
        transit(vault).unwrap("local:k1:AAAA")


async def test_the_server_uses_vault_when_configured(tmp_path: Path, database_url: str) -> None:
    with FakeVault(TOKEN) as vault:
        settings = Settings(
            data_dir=tmp_path / "data", database_url=database_url, vault_url=vault.url, vault_token=TOKEN
        )
        svc = build_services(settings)
        try:
            assert isinstance(svc.secret_box.wrapper, VaultTransit)
            async with svc.db.session() as session:
                org = await project_q.ensure_organization(session, "gh", "gh/acme", "acme")
                project = Project(organization_id=org.id, slug="gh/acme/app", name="app", vcs_url="/x")
                session.add(project)
            row = await svc.project_env.put(project.id, "TOKEN", "vault-sealed-value", Origin(SYSTEM))
            assert row.wrapped_dek.startswith("vault:v1:") and row.masked_value == "xxxxalue"
            assert not (tmp_path / "data" / "keys").exists()  # no local keyring in Vault mode
        finally:
            await svc.db.close()
    # Vault gone: storing a value fails with a reason, not a 500
    with pytest.raises(ActionError) as refused:
        await svc.project_env.put(project.id, "OTHER", "x" * 8, Origin(SYSTEM))
    assert refused.value.status == 503 and "cannot be reached" in refused.value.message


def test_vault_needs_a_token(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="RONDO_VAULT_TOKEN"):
        build_services(Settings(data_dir=tmp_path, vault_url="http://127.0.0.1:9"))
