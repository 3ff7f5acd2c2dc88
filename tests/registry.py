"""A real Docker registry on loopback for tests (Debian's docker-registry), with a password (htpasswd, bcrypt).

`scripts/test-services` installs docker-registry. The Docker engine trusts 127.0.0.0/8 registries over
plain HTTP, so no TLS is needed. An image is pushed with the SDK and the login given per call, so the
machine's ~/.docker/config.json is never touched.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest

REGISTRY = "/usr/bin/docker-registry"


@dataclass(frozen=True)
class Registry:
    host: str  # 127.0.0.1:PORT
    username: str
    password: str

    def push(self, local: str, repository: str, tag: str) -> str:
        """Push the local image as HOST/REPOSITORY:TAG and remove the local copy of that name."""
        import docker

        client = docker.from_env()
        try:
            name = f"{self.host}/{repository}"
            client.images.get(local).tag(name, tag)
            for line in client.images.push(name, tag, auth_config={"username": self.username,
                                                                   "password": self.password},
                                           stream=True, decode=True):  # fmt: skip
                if "error" in line:
                    raise RuntimeError(f"push of {name}:{tag} failed: {line['error']}")
            client.images.remove(f"{name}:{tag}")
            return f"{name}:{tag}"
        finally:
            client.close()


def _bcrypt(password: str) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt  # glibc's crypt does bcrypt; the registry accepts nothing else

        return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))


def start_registry(root: Path, username: str, password: str) -> tuple[subprocess.Popen[bytes], Registry]:
    if not Path(REGISTRY).exists() or shutil.which("docker") is None:
        raise RuntimeError(f"{REGISTRY} is missing: run scripts/test-services (it installs docker-registry)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    (root / "htpasswd").write_text(f"{username}:{_bcrypt(password)}\n")
    config = root / "config.yml"
    config.write_text(
        f"version: 0.1\nlog: {{level: warn}}\nstorage: {{filesystem: {{rootdirectory: {root / 'data'}}}}}\n"
        f"http: {{addr: '127.0.0.1:{port}'}}\n"
        f"auth: {{htpasswd: {{realm: rondo-tests, path: {root / 'htpasswd'}}}}}\n"
    )
    log = (root / "registry.log").open("wb")
    proc = subprocess.Popen([REGISTRY, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while True:
        try:
            if httpx2.get(f"http://127.0.0.1:{port}/v2/", timeout=2).status_code == 401:
                break
        except httpx2.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"docker-registry did not start:\n{(root / 'registry.log').read_text()}")
        time.sleep(0.1)
    return proc, Registry(f"127.0.0.1:{port}", username, password)


@pytest.fixture
def registry_factory(tmp_path: Path) -> Iterator[Callable[[str, str], Registry]]:
    procs: list[subprocess.Popen[bytes]] = []

    def make(username: str, password: str) -> Registry:
        root = tmp_path / f"registry-{len(procs)}"
        root.mkdir()
        proc, registry = start_registry(root, username, password)
        procs.append(proc)
        return registry

    try:
        yield make
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)
