"""Pulling a job's images with credentials, from a real registry: `auth` and `aws_auth` (ECR).

The registry is Debian's docker-registry on loopback with a password. For `aws_auth` the ECR API is
moto's (server mode), which gives the account's password `AWS:<account>-auth-token`; the registry is
set up with that password, and the config's ECR image name is mapped onto it (RONDO_IMAGE_MAP), while
the region still comes from the name the config wrote.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from rondo.agent.executors.docker import DockerExecutor, DockerSettings
from rondo.agent.executors.registry_auth import ecr_region
from rondo.domain.agent_protocol import TaskSpec
from rondo.domain.status import JobStatus
from tests.agent.test_ssh_keys_in_jobs import execute, run
from tests.registry import Registry, registry_factory  # noqa: F401 - the fixture
from tests.s3_server import s3_endpoint  # noqa: F401 - moto in server mode also answers the ECR API

ECR_IMAGE = "123456789012.dkr.ecr.eu-west-2.amazonaws.com/tiny:1"


def forget(image: str) -> None:
    """Remove the local copy, so the next job has to pull it again."""
    import docker

    client = docker.from_env()
    try:
        client.images.remove(image, force=True)
    finally:
        client.close()


def task(image: dict[str, Any], environment: dict[str, str]) -> TaskSpec:
    return TaskSpec.model_validate({
        "id": f"task-{os.urandom(4).hex()}", "job_id": "job-1", "job_name": "build", "job_number": 1,
        "project_slug": "gh/acme/app", "environment": environment,
        "executor": {"type": "docker", "resource_class": "small", "docker": [image]},
        "steps": [run("echo pulled and running")],
        "secret_values": list(environment.values()),
    })  # fmt: skip


def test_ecr_regions_come_from_the_image_host() -> None:
    assert ecr_region(ECR_IMAGE) == "eu-west-2"
    assert ecr_region("123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com/app") == "us-gov-west-1"
    assert ecr_region("cimg/base:stable") is None
    assert ecr_region("evil.com/123456789012.dkr.ecr.us-east-1.amazonaws.com/x") is None


async def test_auth_logs_in_with_project_variables_and_a_wrong_password_is_an_infrastructure_failure(
    registry_factory: Callable[[str, str], Registry],  # noqa: F811
) -> None:
    registry = registry_factory("deploy", "s3cret-registry-password")
    image = registry.push("rondo/busybox:bookworm", "private/tiny", "1")
    executor = DockerExecutor(DockerSettings(network="host"))
    login = {"username": "$REGISTRY_USER", "password": "$REGISTRY_PASSWORD"}

    status, out, _ = await execute(
        task({"image": image, "auth": login}, {"REGISTRY_USER": "deploy", "REGISTRY_PASSWORD": registry.password}),
        executor,
    )
    assert status == JobStatus.SUCCESS, out
    assert "pulled and running" in out[0]

    registry.push("rondo/busybox:bookworm", "private/tiny", "2")
    status, out, _ = await execute(
        task({"image": image.replace(":1", ":2"), "auth": login},
             {"REGISTRY_USER": "deploy", "REGISTRY_PASSWORD": "wrong-password"}),
        executor,
    )  # fmt: skip
    assert status == JobStatus.INFRASTRUCTURE_FAIL


async def test_aws_auth_logs_in_to_ecr_with_the_job_s_keys(
    registry_factory: Callable[[str, str], Registry],  # noqa: F811
    s3_endpoint: str,  # noqa: F811
) -> None:
    registry = registry_factory("AWS", "123456789012-auth-token")  # what moto's ECR hands out for the account
    pushed = registry.push("rondo/busybox:bookworm", "tiny", "1")
    executor = DockerExecutor(DockerSettings(network="host", image_map=[("*.dkr.ecr.*", pushed)],
                                             ecr_endpoint=s3_endpoint))  # fmt: skip
    keys = {"aws_access_key_id": "$ECR_KEY_ID", "aws_secret_access_key": "$ECR_SECRET"}
    env = {"ECR_KEY_ID": "AKIAEXAMPLEKEY000001", "ECR_SECRET": "example-secret-key-for-ecr"}

    status, out, _ = await execute(task({"image": ECR_IMAGE, "aws_auth": keys}, env), executor)
    assert status == JobStatus.SUCCESS, out
    assert "pulled and running" in out[0]

    # Without keys, or with an OIDC role (Rondo issues no OIDC tokens yet), the job says why it cannot pull.
    forget(pushed)
    status, out, _ = await execute(task({"image": ECR_IMAGE, "aws_auth": keys}, {}), executor)
    assert status == JobStatus.INFRASTRUCTURE_FAIL
    status, out, _ = await execute(
        task({"image": ECR_IMAGE, "aws_auth": {"oidc_role_arn": "arn:aws:iam::123456789012:role/ci"}}, {}), executor
    )
    assert status == JobStatus.INFRASTRUCTURE_FAIL
