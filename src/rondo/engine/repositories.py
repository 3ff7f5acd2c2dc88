"""Hands out one `GitRepository` per repository URL, sharing the mirror directory."""

from __future__ import annotations

from pathlib import Path

from rondo.vcs import GitRepository


class Repositories:
    def __init__(self, mirror_root: Path) -> None:
        self._mirror_root = mirror_root
        self._repos: dict[str, GitRepository] = {}

    def get(self, url: str) -> GitRepository:
        repo = self._repos.get(url)
        if repo is None:
            repo = self._repos[url] = GitRepository(url, self._mirror_root)
        return repo
