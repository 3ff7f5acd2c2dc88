"""Credentials for pulling a job's images: `auth` (a registry login) and `aws_auth` (Amazon ECR).

Both may name project or context variables (`$ECR_KEY`), expanded from the job's environment on the
agent. ECR gives a 12-hour password for the account and region in the image's host name
(`ACCOUNT.dkr.ecr.REGION.amazonaws.com/…`), asked for with the job's access keys.
"""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import Callable

from rondo.agent.executors.base import ExecutorError
from rondo.domain.agent_protocol import DockerImageSpec

ECR_HOST = re.compile(r"^(?P<account>\d{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/")


def ecr_region(image: str) -> str | None:
    """The AWS region of an ECR image name, or None when the image is not in ECR."""
    match = ECR_HOST.match(image)
    return match.group("region") if match else None


def _ecr_password(region: str, key_id: str, secret: str, endpoint: str | None) -> dict[str, str]:
    import boto3
    import botocore.exceptions

    client = boto3.client(
        "ecr", region_name=region, aws_access_key_id=key_id, aws_secret_access_key=secret, endpoint_url=endpoint
    )
    try:
        data = client.get_authorization_token()["authorizationData"][0]
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise ExecutorError(f"cannot log in to Amazon ECR in {region}: {exc}") from None
    username, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    return {"username": username, "password": password}


async def pull_credentials(
    spec: DockerImageSpec, expand: Callable[[str], str], ecr_endpoint: str | None = None
) -> dict[str, str] | None:
    """The login for pulling `spec.image`, or None to pull anonymously."""
    if spec.auth:
        return {"username": expand(spec.auth.get("username", "")), "password": expand(spec.auth.get("password", ""))}
    if not spec.aws_auth:
        return None
    if "oidc_role_arn" in spec.aws_auth:
        raise ExecutorError(
            f"cannot pull {spec.image}: aws_auth.oidc_role_arn needs OIDC tokens for jobs, which Rondo does not "
            "issue yet; use aws_access_key_id and aws_secret_access_key"
        )
    region = ecr_region(spec.image)
    if region is None:
        raise ExecutorError(
            f"cannot pull {spec.image}: aws_auth is for Amazon ECR images (ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME)"
        )
    key_id, secret = expand(spec.aws_auth["aws_access_key_id"]), expand(spec.aws_auth["aws_secret_access_key"])
    if not key_id or not secret:
        raise ExecutorError(f"cannot pull {spec.image}: aws_auth's keys are empty (is the variable set?)")
    return await asyncio.to_thread(_ecr_password, region, key_id, secret, ecr_endpoint)
