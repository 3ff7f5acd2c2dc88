"""Following repositories: create the project, remember its refs, build new commits as they appear."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from rondo.domain.slugs import ProjectSlug
from rondo.domain.ssh_keys import is_ssh_url
from rondo.engine.pipelines import PipelineService, Trigger
from rondo.engine.repositories import Repositories
from rondo.engine.ssh_keys import DEPLOY_KEY, ProjectSshKeys
from rondo.ops.audit import SYSTEM, Origin
from rondo.store import projects as project_q
from rondo.store.db import Database
from rondo.store.models import CheckoutKey, Pipeline, Project
from rondo.vcs import VcsError

log = logging.getLogger(__name__)

HEADS = "refs/heads/"


class ProjectExists(Exception):
    pass


@dataclass(frozen=True)
class Followed:
    project: Project
    pipeline: Pipeline | None  # the default branch's first build
    # An SSH repository the server cannot read yet: why, and the deploy key made for it to be given.
    unreadable: str | None = None
    checkout_key: CheckoutKey | None = None


class ProjectService:
    def __init__(
        self, db: Database, repositories: Repositories, pipelines: PipelineService, ssh_keys: ProjectSshKeys
    ) -> None:
        self._db = db
        self._repos = repositories
        self._pipelines = pipelines
        self._ssh_keys = ssh_keys

    async def follow(self, slug: ProjectSlug, vcs_url: str, actor: str, origin: Origin | None = None) -> Followed:
        """Start following a repository and build its default branch, as CircleCI does on first follow.

        An SSH repository the server cannot read yet is followed all the same, with a new deploy key
        (as CircleCI's project setup makes one): once the key is added to the repository, the next scan
        reads it and builds its default branch.

        Raises `rondo.vcs.VcsError` when another repository cannot be read, `ProjectExists` when the slug is taken.
        """
        repo = self._repos.get(vcs_url)
        unreadable = None
        try:
            refs = await repo.list_refs()
            default_branch = await repo.default_branch()
        except VcsError as exc:
            if not is_ssh_url(vcs_url):
                raise
            refs, default_branch, unreadable = {}, None, str(exc)
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
        if unreadable is not None:
            key = await self._ssh_keys.create_checkout_key(project.id, DEPLOY_KEY, origin or Origin(SYSTEM))
            log.info("project %s: cannot read %s yet, made deploy key %s", slug.short, vcs_url, key.fingerprint)
            return Followed(project, None, unreadable, key)
        pipeline = None
        if default_branch and HEADS + default_branch in refs:
            pipeline = await self._pipelines.trigger(
                project.id,
                Trigger(type="webhook", actor=actor, branch=default_branch, revision=refs[HEADS + default_branch]),
            )
        return Followed(project, pipeline)

    async def scan(self, project_id: uuid.UUID) -> list[Pipeline]:
        """Compare the repository's branches with the last seen ones; build each new or moved branch."""
        async with self._db.session() as session:
            project = await project_q.project_by_id(session, project_id)
            if project is None:
                return []
            known = await project_q.known_refs(session, project_id)
        repo = await self._repos.of_project(project.id, project.vcs_url)
        refs = await repo.list_refs()
        if refs == known:
            return []
        # The first time a repository is read (it was empty, or not readable yet when it was followed),
        # only its default branch builds, as when a readable one is followed.
        first_read = not known and project.default_branch is None
        default_branch = await repo.default_branch() if first_read else None
        async with self._db.session() as session:
            # Re-read under the write lock so two scans never build the same push twice.
            known = await project_q.known_refs(session, project_id)
            changed = {
                ref[len(HEADS) :]: sha for ref, sha in refs.items() if ref.startswith(HEADS) and known.get(ref) != sha
            }
            if first_read and not known and default_branch:
                row = await project_q.project_by_id(session, project_id)
                if row is not None and row.default_branch is None:
                    row.default_branch = default_branch
                    changed = {b: sha for b, sha in changed.items() if b == default_branch}
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
