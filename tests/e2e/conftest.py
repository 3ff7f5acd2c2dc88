"""Fixtures for the end-to-end tests that run `setup_remote_docker`."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def remote_docker_env() -> Iterator[dict[str, str]]:
    """Agent settings for job-private Docker engines: on, with `alpine:latest` preloaded from the local
    busybox image (no registry here), and their stores in a folder the engines' remapped root can enter
    (pytest's own folders are 0700)."""
    path = Path("/var/tmp") / f"rondo-remote-docker-e2e-{os.getpid()}"
    path.mkdir(mode=0o755, exist_ok=True)
    path.chmod(0o755)
    try:
        yield {
            "RONDO_AGENT_REMOTE_DOCKER": "on",
            "RONDO_REMOTE_DOCKER_DIR": str(path),
            "RONDO_REMOTE_DOCKER_PRELOAD": "alpine:latest=rondo/busybox:bookworm",
        }
    finally:
        subprocess.run(["rm", "-rf", "--one-file-system", str(path)], check=False)
