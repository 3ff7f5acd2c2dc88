import stat
from pathlib import Path

import pytest

from rondo.secrets.server_key import load_or_create_server_key
from rondo.secrets.tokens import USER_TOKEN_PREFIX, display_prefix, new_token, token_digest
from rondo.secrets.url_signing import BadSignature, sign_path, verify_path


def test_server_key_is_created_once_owner_only(tmp_path: Path) -> None:
    key = load_or_create_server_key(tmp_path)
    assert len(key) >= 32
    assert stat.S_IMODE((tmp_path / "secret-key").stat().st_mode) == 0o600
    assert load_or_create_server_key(tmp_path) == key


def test_configured_key_wins_and_must_be_long(tmp_path: Path) -> None:
    assert load_or_create_server_key(tmp_path, "k" * 40) == b"k" * 40
    with pytest.raises(ValueError, match="at least 32"):
        load_or_create_server_key(tmp_path, "short")


def test_tokens_are_random_and_stored_as_keyed_digests() -> None:
    a, b = new_token(USER_TOKEN_PREFIX), new_token(USER_TOKEN_PREFIX)
    assert a != b and a.startswith("ccipat_") and len(a) > 40
    assert token_digest(b"k1" * 16, a) != token_digest(b"k2" * 16, a)
    assert a not in token_digest(b"k1" * 16, a)
    assert display_prefix(a) == a[:11]


def test_signed_paths_expire_and_resist_tampering() -> None:
    key = b"s" * 32
    signed = sign_path(key, "/api/v1.1/project/github/a/b/1/output/0/0", 60, now=1000)
    path, query = signed.split("?")
    params = dict(p.split("=") for p in query.split("&"))
    verify_path(key, path, params["expires"], params["signature"], now=1030)
    with pytest.raises(BadSignature, match="expired"):
        verify_path(key, path, params["expires"], params["signature"], now=1061)
    with pytest.raises(BadSignature, match="does not match"):
        verify_path(key, path.replace("/0/0", "/0/1"), params["expires"], params["signature"], now=1030)
    with pytest.raises(BadSignature, match="does not match"):
        verify_path(b"t" * 32, path, params["expires"], params["signature"], now=1030)
    with pytest.raises(BadSignature, match="not signed"):
        verify_path(key, path, None, None)


def test_continuation_keys_name_their_pipeline_and_cannot_be_forged() -> None:
    import uuid

    from rondo.secrets.continuation import continuation_key, pipeline_of

    pipeline = uuid.uuid4()
    key = continuation_key(b"k" * 32, pipeline)
    assert pipeline_of(b"k" * 32, key) == pipeline
    assert pipeline_of(b"other-key" * 4, key) is None
    assert pipeline_of(b"k" * 32, key[:-2] + "xx") is None
    assert pipeline_of(b"k" * 32, continuation_key(b"k" * 32, uuid.uuid4()).replace("rondocont_", "")) is None
    assert pipeline_of(b"k" * 32, "rondocont_nothex_abc") is None
