"""The S3 object store against a real S3-compatible server on loopback (moto in server mode)."""

from __future__ import annotations

import httpx2
import pytest

from rondo.objects import ObjectKeyError, ObjectNotFound, S3ObjectStore, S3Settings


@pytest.fixture
def store(s3_settings: S3Settings) -> S3ObjectStore:
    return S3ObjectStore(s3_settings)


async def test_roundtrip_overwrite_list_stream_delete(store: S3ObjectStore) -> None:
    await store.put("output/p/j/0/1.json.zst", b"one")
    await store.put("output/p/j/0/1.json.zst", b"two")
    await store.put("artifacts/p/x.txt", b"x" * 3_000_000)
    assert await store.get("output/p/j/0/1.json.zst") == b"two"
    assert await store.size("artifacts/p/x.txt") == 3_000_000
    assert await store.list("output/") == ["output/p/j/0/1.json.zst"]
    assert b"".join([c async for c in store.open_stream("artifacts/p/x.txt")]) == b"x" * 3_000_000
    await store.delete("artifacts/p/x.txt")
    assert not await store.exists("artifacts/p/x.txt")
    with pytest.raises(ObjectNotFound):
        await store.get("artifacts/p/x.txt")
    with pytest.raises(ObjectNotFound):
        await store.size("nothing/here")
    with pytest.raises(ObjectKeyError):
        await store.put("../escape", b"x")


async def test_presigned_put_and_get_move_bytes_without_credentials(store: S3ObjectStore) -> None:
    put = store.presign_put("caches/p/c.tar.zst", 60, content_type="application/zstd", size=5)
    assert put.method == "PUT" and put.headers == {"Content-Type": "application/zstd"}
    assert "content-length" in put.url.lower()  # the size is signed: the service refuses another
    async with httpx2.AsyncClient() as http:
        assert (await http.put(put.url, content=b"hello", headers=put.headers)).status_code == 200
        assert await store.size("caches/p/c.tar.zst") == 5
        got = await http.get(store.presign_get("caches/p/c.tar.zst", 60))
        assert got.content == b"hello"
        # A download can be served as another type (unsafe artifacts as plain text), inline or not.
        url = store.presign_get("caches/p/c.tar.zst", 60, content_type="text/plain", disposition="attachment")
        served = await http.get(url)
        assert served.headers["content-type"].startswith("text/plain")
        assert served.headers["content-disposition"] == "attachment"
