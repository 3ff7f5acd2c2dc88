"""Moving bytes to and from object storage through presigned URLs (never with the agent's token)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2

CHUNK = 1024 * 1024
ATTEMPTS = 3


class TransferError(Exception):
    """An upload or download that failed, with the storage service's answer."""


def _answer(response: httpx2.Response) -> str:
    text = response.text.strip().replace("\n", " ")
    return f"{response.status_code} {text[:300]}".strip()


class Transfers:
    def __init__(self, timeout_s: float = 300.0) -> None:
        self._http = httpx2.AsyncClient(timeout=httpx2.Timeout(timeout_s, connect=30.0), follow_redirects=True)

    async def close(self) -> None:
        await self._http.aclose()

    async def upload(self, url: str, headers: dict[str, str], path: Path, size: int) -> None:
        """PUT the file at `path` (exactly `size` bytes); retried on network errors and 5xx answers."""
        last = ""
        for attempt in range(ATTEMPTS):
            try:
                response = await self._http.put(
                    url, content=_read_chunks(path), headers={**headers, "Content-Length": str(size)}
                )
            except httpx2.TransportError as exc:
                last = str(exc) or type(exc).__name__
            else:
                if response.status_code < 300:
                    return
                last = _answer(response)
                if response.status_code < 500:
                    break
            await asyncio.sleep(0.5 * (attempt + 1))
        raise TransferError(f"the upload to object storage failed: {last}")

    async def download(self, url: str, dest: Path) -> int:
        """GET `url` into the file `dest`; returns its size."""
        last = ""
        for attempt in range(ATTEMPTS):
            try:
                async with self._http.stream("GET", url) as response:
                    if response.status_code != 200:
                        await response.aread()
                        last = _answer(response)
                        if response.status_code < 500:
                            break
                    else:
                        return await _write_chunks(response.aiter_bytes(CHUNK), dest)
            except httpx2.TransportError as exc:
                last = str(exc) or type(exc).__name__
            await asyncio.sleep(0.5 * (attempt + 1))
        raise TransferError(f"the download from object storage failed: {last}")


async def _read_chunks(path: Path) -> AsyncIterator[bytes]:
    fh = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(fh.read, CHUNK):
            yield chunk
    finally:
        fh.close()


async def _write_chunks(chunks: AsyncIterator[bytes], dest: Path) -> int:
    size = 0
    fh = await asyncio.to_thread(dest.open, "wb")
    try:
        async for chunk in chunks:
            await asyncio.to_thread(fh.write, chunk)
            size += len(chunk)
    finally:
        fh.close()
    return size
