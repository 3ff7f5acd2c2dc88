"""Objects in any S3-compatible service (boto3, run in threads), with the service's own presigned URLs.

The server only reads and writes small objects (step output); agents move bulk bytes themselves
through the presigned URLs, so the server never proxies them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from rondo.objects.store import ObjectNotFound, ObjectStoreError, PresignedRequest, check_key

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class S3Settings:
    bucket: str
    region: str = ""  # an AWS region; with an endpoint it only feeds the signature
    endpoint_url: str = ""  # any other S3-compatible service, e.g. http://127.0.0.1:9000
    access_key_id: str = ""  # empty: boto3's usual chain (environment, instance role, ...)
    secret_access_key: str = ""


def _is_missing(exc: Exception) -> bool:
    response = getattr(exc, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    return code in ("404", "NoSuchKey", "NotFound")


class S3ObjectStore:
    def __init__(self, settings: S3Settings) -> None:
        import boto3
        from botocore.config import Config

        self.settings = settings
        self.bucket = settings.bucket
        self._client: Any = boto3.client(
            "s3",
            endpoint_url=settings.endpoint_url or None,
            region_name=settings.region or "us-east-1",
            aws_access_key_id=settings.access_key_id or None,
            aws_secret_access_key=settings.secret_access_key or None,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path" if settings.endpoint_url else "auto"},
                retries={"max_attempts": 5, "mode": "standard"},
            ),
        )

    async def _call(self, method: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return await asyncio.to_thread(getattr(self._client, method), Bucket=self.bucket, **kwargs)
        except ClientError as exc:
            if _is_missing(exc):
                raise ObjectNotFound(f"object {kwargs.get('Key', '')} not found") from None
            raise ObjectStoreError(f"S3 {method} on bucket {self.bucket} failed: {exc}") from exc
        except BotoCoreError as exc:
            raise ObjectStoreError(f"S3 {method} on bucket {self.bucket} failed: {exc}") from exc

    async def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        await self._call("put_object", Key=check_key(key), Body=data, ContentType=content_type)

    async def get(self, key: str) -> bytes:
        response = await self._call("get_object", Key=check_key(key))
        body = response["Body"]
        try:
            return bytes(await asyncio.to_thread(body.read))
        finally:
            body.close()

    async def open_stream(self, key: str) -> AsyncIterator[bytes]:
        response = await self._call("get_object", Key=check_key(key))
        body = response["Body"]
        try:
            while chunk := await asyncio.to_thread(body.read, CHUNK):
                yield chunk
        finally:
            body.close()

    async def exists(self, key: str) -> bool:
        try:
            await self._call("head_object", Key=check_key(key))
        except ObjectNotFound:
            return False
        return True

    async def size(self, key: str) -> int:
        response = await self._call("head_object", Key=check_key(key))
        return int(response["ContentLength"])

    async def delete(self, key: str) -> None:
        await self._call("delete_object", Key=check_key(key))

    async def list(self, prefix: str) -> list[str]:
        keys: list[str] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Prefix": prefix}
            if token:
                kwargs["ContinuationToken"] = token
            page = await self._call("list_objects_v2", **kwargs)
            keys.extend(item["Key"] for item in page.get("Contents", []))
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return sorted(keys)

    def presign_get(
        self, key: str, expires_s: int, *, content_type: str | None = None, disposition: str | None = None
    ) -> str:
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": check_key(key)}
        if content_type:
            params["ResponseContentType"] = content_type
        if disposition:
            params["ResponseContentDisposition"] = disposition
        url: str = self._client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_s)
        return url

    def presign_put(
        self, key: str, expires_s: int, *, content_type: str | None = None, size: int | None = None
    ) -> PresignedRequest:
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": check_key(key)}
        headers: dict[str, str] = {}
        if content_type:
            params["ContentType"] = content_type
            headers["Content-Type"] = content_type
        if size is not None:
            params["ContentLength"] = size  # signed: the service refuses a body of any other size
        url: str = self._client.generate_presigned_url("put_object", Params=params, ExpiresIn=expires_s)
        return PresignedRequest(url, "PUT", headers)
