"""Watches followed git repositories and builds new commits within a second (or at once when poked)."""

from __future__ import annotations

import asyncio
import logging
import uuid

from rondo.domain.waiting import wait_event
from rondo.engine.projects import ProjectService
from rondo.vcs import VcsError

log = logging.getLogger(__name__)


class RefWatcher:
    def __init__(self, projects: ProjectService, interval_s: float) -> None:
        self._projects = projects
        self._interval = interval_s
        self._poke = asyncio.Event()
        self._failing: set[uuid.UUID] = set()

    def poke(self) -> None:
        """Scan now (a git hook said refs changed) instead of at the next interval."""
        self._poke.set()

    async def run(self) -> None:
        while True:
            self._poke.clear()
            await self.scan_all()
            await wait_event(self._poke, self._interval)

    async def scan_all(self) -> None:
        for project_id in await self._projects.all_project_ids():
            try:
                await self._projects.scan(project_id)
                self._failing.discard(project_id)
            except VcsError as exc:
                if project_id not in self._failing:  # say it once, not every second
                    log.warning("cannot read the repository of project %s: %s", project_id, exc)
                    self._failing.add(project_id)
            except Exception:
                log.exception("scanning project %s failed", project_id)
