"""The local object store: atomic files, safe keys, and presigned URLs the server can verify."""

import stat
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from rondo.objects import LocalObjectStore, ObjectKeyError, ObjectNotFound, ObjectTooLarge, SignatureError
from rondo.objects.local import verify_signature

KEY = b"k" * 32


@pytest.fixture
def store(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "objects", KEY, "http://127.0.0.1:8080")


async def test_roundtrip_overwrite_list_delete(store: LocalObjectStore) -> None:
    await store.put("output/p/j/0/1.json.zst", b"one")
    await store.put("output/p/j/0/1.json.zst", b"two")  # replaced atomically
    await store.put("artifacts/p/x.txt", b"x")
    assert await store.get("output/p/j/0/1.json.zst") == b"two"
    assert await store.size("output/p/j/0/1.json.zst") == 3
    assert stat.S_IMODE(store.path_for("artifacts/p/x.txt").stat().st_mode) == 0o600
    assert await store.list("output/") == ["output/p/j/0/1.json.zst"]
    assert b"".join([c async for c in store.open_stream("artifacts/p/x.txt")]) == b"x"
    await store.delete("artifacts/p/x.txt")
    await store.delete("artifacts/p/x.txt")  # deleting twice is fine
    assert not await store.exists("artifacts/p/x.txt")
    with pytest.raises(ObjectNotFound):
        await store.get("artifacts/p/x.txt")


@pytest.mark.parametrize("key", ["../etc/passwd", "/abs", "a/../b", "a//b", "a\\b", "a/./b", "", "x" * 1025, "a\x00b"])
async def test_unsafe_keys_are_refused(store: LocalObjectStore, key: str) -> None:
    with pytest.raises(ObjectKeyError):
        await store.put(key, b"x")


def _params(url: str) -> tuple[str, str, str]:
    parsed = urlparse(url)
    q = parse_qs(parsed.query)
    return parsed.path.removeprefix("/objects/"), q["expires"][0], q["signature"][0]


def test_presigned_urls_verify_only_for_their_object_method_and_time(store: LocalObjectStore) -> None:
    key, expires, sig = _params(store.presign_get("output/a.json", 60))
    assert key == "output/a.json"
    store.verify("GET", key, expires, sig)
    with pytest.raises(SignatureError, match="does not match"):
        store.verify("PUT", key, expires, sig)
    with pytest.raises(SignatureError, match="does not match"):
        store.verify("GET", "output/b.json", expires, sig)
    with pytest.raises(SignatureError, match="does not match"):
        verify_signature(b"other" * 8, "GET", key, expires, sig)
    with pytest.raises(SignatureError, match="expired"):
        verify_signature(KEY, "GET", key, expires, sig, now=int(expires) + 1)
    with pytest.raises(SignatureError, match="not signed"):
        store.verify("GET", key, "", "")


def test_signed_options_cannot_be_changed(store: LocalObjectStore) -> None:
    url = store.presign_get("artifacts/p/a.html", 60, content_type="text/plain", disposition="inline")
    parsed = urlparse(url)
    q = {k: v[0] for k, v in parse_qs(parsed.query).items()}
    key = parsed.path.removeprefix("/objects/")
    store.verify("GET", key, q["expires"], q["signature"], q)
    with pytest.raises(SignatureError, match="does not match"):
        store.verify("GET", key, q["expires"], q["signature"], {**q, "type": "text/html"})
    put = store.presign_put("caches/p/c.tar.zst", 60, content_type="application/zstd", size=10)
    q = {k: v[0] for k, v in parse_qs(urlparse(put.url).query).items()}
    assert q["size"] == "10" and put.headers == {"Content-Type": "application/zstd"}
    with pytest.raises(SignatureError, match="does not match"):
        store.verify("PUT", "caches/p/c.tar.zst", q["expires"], q["signature"], {**q, "size": "99999"})


async def _chunks(*parts: bytes):  # type: ignore[no-untyped-def]
    for part in parts:
        yield part


async def test_streamed_uploads_must_have_their_signed_size(store: LocalObjectStore) -> None:
    assert await store.put_stream("caches/p/a", _chunks(b"12345", b"678"), 8, 100) == 8
    assert await store.get("caches/p/a") == b"12345678"
    with pytest.raises(ObjectTooLarge, match="larger"):
        await store.put_stream("caches/p/a", _chunks(b"123456789"), 8, 100)
    with pytest.raises(ObjectTooLarge, match="not the 8"):
        await store.put_stream("caches/p/a", _chunks(b"1234"), 8, 100)
    with pytest.raises(ObjectTooLarge):
        await store.put_stream("caches/p/b", _chunks(b"x" * 200), None, 100)
    assert await store.get("caches/p/a") == b"12345678"  # a refused upload leaves the object as it was
    assert sorted(p.name for p in store.path_for("caches/p/a").parent.iterdir()) == ["a"]  # no temporary file
