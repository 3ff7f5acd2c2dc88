"""A real OpenSSH server on loopback for tests: its own host key, config and authorized_keys in tmp.

`scripts/test-services` installs openssh-server (and makes /run/sshd, which sshd wants when run as
root). The server takes public keys only, from 127.0.0.1, for the user running the tests, and serves
git repositories by path: `ssh://USER@127.0.0.1:PORT/abs/path/repo.git`.
"""

from __future__ import annotations

import getpass
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SSHD = "/usr/sbin/sshd"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class SshServer:
    port: int
    user: str
    root: Path
    log: Path

    @property
    def authorized_keys(self) -> Path:
        return self.root / "authorized_keys"

    def authorize(self, public_key: str) -> None:
        with self.authorized_keys.open("a") as out:
            out.write(public_key.strip() + "\n")

    def revoke_all(self) -> None:
        self.authorized_keys.write_text("")

    def known_hosts_line(self) -> str:
        """This server's host key as a known_hosts line."""
        kind, key = (self.root / "host_ed25519.pub").read_text().split()[:2]
        return f"[127.0.0.1]:{self.port} {kind} {key}\n"

    def url(self, repository: Path) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}{repository}"


def start_sshd(root: Path) -> tuple[subprocess.Popen[bytes], SshServer]:
    if not os.access(SSHD, os.X_OK):
        raise RuntimeError(f"{SSHD} is missing: run scripts/test-services (it installs openssh-server)")
    if os.geteuid() == 0 and not os.path.isdir("/run/sshd"):
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # what the package's tmpfiles rule makes at boot
    root.mkdir(parents=True, exist_ok=True)
    host_key = root / "host_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)], check=True)
    server = SshServer(_free_port(), getpass.getuser(), root, root / "sshd.log")
    server.authorized_keys.write_text("")
    config = root / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"Port {server.port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {host_key}",
                f"AuthorizedKeysFile {server.authorized_keys}",
                f"AllowUsers {server.user}",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PermitRootLogin prohibit-password",
                "StrictModes no",  # tmp's folders are not owned the way ~/.ssh would be
                "UsePAM no",
                "PidFile none",
                "",
            ]
        )
    )
    with server.log.open("wb") as log:
        proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=log)
    deadline = time.monotonic() + 15
    while True:
        try:
            socket.create_connection(("127.0.0.1", server.port), timeout=1).close()
            return proc, server
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"sshd did not start:\n{server.log.read_text(errors='replace')}") from None
            time.sleep(0.05)


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[SshServer]:
    proc, server = start_sshd(tmp_path / "sshd")
    try:
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
