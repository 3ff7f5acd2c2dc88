"""Envelope encryption with the local keyring: sealing, owner binding, the keyring file, rotation, masking."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from rondo.secrets.envelope import Sealed, SecretBox, SecretsError, env_var_aad
from rondo.secrets.keyring import LocalKeyring
from rondo.secrets.masking import masked


def box(data_dir: Path) -> SecretBox:
    return SecretBox(LocalKeyring.in_data_dir(data_dir))


async def test_a_value_opens_only_for_its_owner_and_name(tmp_path: Path) -> None:
    secrets = box(tmp_path)
    aad = env_var_aad("project", "p1", "TOKEN")
    sealed = await secrets.seal("hunter2-is-my-password", aad)
    assert "hunter2" not in sealed.ciphertext + sealed.wrapped_dek
    assert await secrets.open(sealed, aad) == "hunter2-is-my-password"
    for other in (env_var_aad("project", "p2", "TOKEN"), env_var_aad("project", "p1", "OTHER")):
        with pytest.raises(SecretsError, match="does not belong"):
            await secrets.open(sealed, other)
    # every value has its own data key: the same value seals differently twice
    again = await secrets.seal("hunter2-is-my-password", aad)
    assert (again.wrapped_dek, again.ciphertext) != (sealed.wrapped_dek, sealed.ciphertext)
    tampered = Sealed(sealed.wrapped_dek, again.ciphertext)
    with pytest.raises(SecretsError):
        await secrets.open(tampered, aad)


def test_the_keyring_is_made_once_readable_by_its_owner_only(tmp_path: Path) -> None:
    first = LocalKeyring.in_data_dir(tmp_path)
    path = tmp_path / "keys" / "keyring.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert LocalKeyring.in_data_dir(tmp_path).current_id == first.current_id
    assert len(first.key_ids) == 1


async def test_rotation_rewraps_and_a_live_process_follows_the_file(tmp_path: Path) -> None:
    server = box(tmp_path)  # a running server's keyring
    aad = env_var_aad("context", "c1", "DEPLOY_KEY")
    sealed = await server.seal("s3cret-value", aad)
    old = server.wrapper.current_id  # type: ignore[attr-defined]

    operator = LocalKeyring.in_data_dir(tmp_path)  # `rondo keys rotate` in another process
    new = operator.rotate()
    assert new != old and operator.current_id == new
    # the server sees the new key without a restart, and both keys unwrap meanwhile
    assert server.wrapper.current_id == new  # type: ignore[attr-defined]
    assert not server.wrapper.is_current(sealed.wrapped_dek)
    rewrapped = Sealed(await server.rewrap(sealed.wrapped_dek), sealed.ciphertext)
    assert server.wrapper.is_current(rewrapped.wrapped_dek)
    assert await server.open(sealed, aad) == await server.open(rewrapped, aad) == "s3cret-value"

    assert operator.forget_old_keys() == [old]
    assert await server.open(rewrapped, aad) == "s3cret-value"
    with pytest.raises(SecretsError, match=f"master key {old} is not in the keyring"):
        await server.open(sealed, aad)
    assert [k["id"] for k in json.loads((tmp_path / "keys" / "keyring.json").read_text())["keys"]] == [new]


def test_a_damaged_keyring_is_reported_not_replaced(tmp_path: Path) -> None:
    LocalKeyring.in_data_dir(tmp_path)
    path = tmp_path / "keys" / "keyring.json"
    path.write_text('{"version": 1, "current": "nope", "keys": []}')
    with pytest.raises(SecretsError, match="damaged"):
        LocalKeyring.in_data_dir(tmp_path)


def test_values_are_shown_as_xxxx_and_their_last_four_characters() -> None:
    assert masked("s3cr3t-value") == "xxxxalue"
    assert masked("12345") == "xxxx2345"
    assert masked("abcd") == "xxxx"  # never a short value whole
    assert masked("bar") == "xxxx"
    assert masked("") == "xxxx"
