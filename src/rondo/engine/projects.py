"""Following repositories: create the project, remember its refs, build new commits as they appear."""

from __future__ import annotations

import logging
import uuid

from rondo.domain.slugs import ProjectSlug
from rondo.engine.pipelines import PipelineService, Trigger
from rondo.engine.repositories import Repositories
from rondo.store import projects as project_q
from rondo.store.db import Database
from rondo.store.models import Pipeline, Project

log = logging.getLogger(__name__)

HEADS = "refs/heads/"


class ProjectExists(Exception):
    pass


class ProjectService:
    def __init__(self, db: Database, repositories: Repositories, pipelines: PipelineService) -> None:
        self._db = db
        self._repos = repositories
        self._pipelines = pipelines

    async def follow(self, slug: ProjectSlug, vcs_url: str, actor: str) -> tuple[Project, Pipeline | None]:
        """Start following a repository and build its default branch, as CircleCI does on first follow.

        Raises `rondo.vcs.VcsError` when the repository cannot be read, `ProjectExists` when the slug is taken.
        """
        repo = self._repos.get(vcs_url)
        refs = await repo.list_refs()
        default_branch = await repo.default_branch()
        async with self._db.session() as session:
            if await project_q.project_by_slug(session, slug.short) is not None:
                raise ProjectExists(f"project {slug.short} is already followed")
            org = await project_q.ensure_organization(session, slug.vcs, slug.org_slug, slug.org)
            project = Project(
                organization_id=org.id,
                slug=slug.short,
                name=slug.repo,
                vcs_url=vcs_url,
                default_branch=default_branch,
            )
            session.add(project)
            await session.flush()
            await project_q.save_refs(session, project.id, refs)
        pipeline = None
        if default_branch and HEADS + default_branch in refs:
            pipeline = await self._pipelines.trigger(
                project.id,
                Trigger(type="webhook", actor=actor, branch=default_branch, revision=refs[HEADS + default_branch]),
            )
        return project, pipeline

    async def scan(self, project_id: uuid.UUID) -> list[Pipeline]:
        """Compare the repository's branches with the last seen ones; build each new or moved branch."""
        async with self._db.session() as session:
            project = await project_q.project_by_id(session, project_id)
            if project is None:
                return []
            known = await project_q.known_refs(session, project_id)
        refs = await self._repos.get(project.vcs_url).list_refs()
        if refs == known:
            return []
        async with self._db.session() as session:
            # Re-read under the write lock so two scans never build the same push twice.
            known = await project_q.known_refs(session, project_id)
            changed = {
                ref[len(HEADS) :]: sha for ref, sha in refs.items() if ref.startswith(HEADS) and known.get(ref) != sha
            }
            await project_q.save_refs(session, project_id, refs)
        # Tag pushes build only jobs whose filters name tags; until filters exist, tags are recorded only.
        pipelines = []
        for branch, sha in sorted(changed.items()):
            pipelines.append(
                await self._pipelines.trigger(
                    project_id, Trigger(type="webhook", actor="git", branch=branch, revision=sha)
                )
            )
        return pipelines

    async def all_project_ids(self) -> list[uuid.UUID]:
        async with self._db.session() as session:
            return [p.id for p in await project_q.all_projects(session)]
