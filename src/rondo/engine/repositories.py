"""Hands out one `GitRepository` per repository URL, sharing the mirror directory.

A repository reached over SSH is read with its project's preferred checkout key when it has one; host
keys the server sees are remembered in the mirror directory's `known_hosts` (trust on first use).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from rondo.domain.ssh_keys import is_ssh_url
from rondo.secrets.envelope import SecretsError
from rondo.vcs import GitRepository, SshIdentity, VcsError

KeyOf = Callable[[uuid.UUID], Awaitable[str | None]]


class Repositories:
    def __init__(self, mirror_root: Path, checkout_key: KeyOf | None = None) -> None:
        self._mirror_root = mirror_root
        self._checkout_key = checkout_key  # a project's preferred checkout key (private), if any
        self._repos: dict[str, GitRepository] = {}
        self.known_hosts = mirror_root / "known_hosts"  # SSH hosts seen, trusted on first use

    def get(self, url: str) -> GitRepository:
        repo = self._repos.get(url)
        if repo is None:
            repo = self._repos[url] = GitRepository(url, self._mirror_root)
        return repo

    async def of_project(self, project_id: uuid.UUID, url: str) -> GitRepository:
        """The project's repository, read with its checkout key when the URL is SSH."""
        repo = self.get(url)
        if is_ssh_url(url) and self._checkout_key is not None:
            try:
                key = await self._checkout_key(project_id)
            except SecretsError as exc:  # a read that cannot happen, said like one (once, by the ref watcher)
                raise VcsError(f"cannot open the project's checkout key to read {url}: {exc}") from None
            repo.identity = SshIdentity(key, self.known_hosts) if key else None
        return repo
