"""An S3-compatible server on loopback for tests: moto in server mode, one bucket per test.

moto checks neither signatures nor expiry of presigned URLs (shared/design/STACK.md, trap 6): those
rules are tested on the local store's own signer; moto stands for S3's API behaviour.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from rondo.objects import S3Settings

ACCESS_KEY = "rondo-test"
SECRET_KEY = "rondo-test-secret"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python -m moto.server` on a free loopback port for the whole test session."""
    port = _free_port()
    log = Path(tmp_path_factory.mktemp("moto")) / "moto.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=out
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx2.get(endpoint + "/moto-api/", timeout=2)
                break
            except httpx2.HTTPError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto did not start:\n{log.read_text(errors='replace')}") from None
                time.sleep(0.1)
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture
def s3_settings(s3_endpoint: str) -> S3Settings:
    """A new, empty bucket on the test S3 server."""
    import boto3

    bucket = f"rondo-{uuid.uuid4().hex[:12]}"
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )
    client.create_bucket(Bucket=bucket)
    return S3Settings(bucket=bucket, endpoint_url=s3_endpoint, access_key_id=ACCESS_KEY, secret_access_key=SECRET_KEY)


def s3_environment(settings: S3Settings) -> dict[str, str]:
    """The RONDO_S3_* variables that point a server at this bucket."""
    return {
        "RONDO_S3_BUCKET": settings.bucket,
        "RONDO_S3_ENDPOINT": settings.endpoint_url,
        "RONDO_S3_ACCESS_KEY_ID": settings.access_key_id,
        "RONDO_S3_SECRET_ACCESS_KEY": settings.secret_access_key,
    }
