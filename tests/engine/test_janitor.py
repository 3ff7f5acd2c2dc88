"""The janitor deletes what outlived the Storage Object Expiry, and uploads never committed."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

from rondo.engine.janitor import Janitor
from rondo.objects import LocalObjectStore
from rondo.store import caches as cache_q
from rondo.store.db import Database
from rondo.store.models import Cache, Organization, Project
from rondo.store.types import utcnow


async def _project(db: Database) -> uuid.UUID:
    async with db.session() as session:
        org = Organization(slug="gh/acme", name="acme", vcs="github")
        session.add(org)
        await session.flush()
        project = Project(organization_id=org.id, slug="gh/acme/app", name="app", vcs_url="/nowhere")
        session.add(project)
        await session.flush()
        return project.id


async def test_pending_uploads_go_after_a_while_and_expiry_zero_keeps_the_rest(db: Database, tmp_path: Path) -> None:
    objects = LocalObjectStore(tmp_path / "objects", b"k" * 32, "http://127.0.0.1:1")
    project_id = await _project(db)
    now = utcnow()
    rows = {
        "abandoned": Cache(project_id=project_id, key="abandoned", object_key="caches/p/abandoned.tar.zst",
                           created_at=now - timedelta(hours=7)),
        "uploading": Cache(project_id=project_id, key="uploading", object_key="caches/p/uploading.tar.zst",
                           created_at=now - timedelta(minutes=5)),
        "old": Cache(project_id=project_id, key="old", object_key="caches/p/old.tar.zst",
                     created_at=now - timedelta(days=400), committed_at=now - timedelta(days=400)),
    }  # fmt: skip
    async with db.session() as session:
        for row in rows.values():
            session.add(row)
    for row in rows.values():
        await objects.put(row.object_key, b"archive")

    report = await Janitor(db, objects, expiry_days=0).sweep()
    assert report.deleted == {"caches": 1}
    assert await objects.list("caches/") == ["caches/p/old.tar.zst", "caches/p/uploading.tar.zst"]
    async with db.session() as session:
        assert await cache_q.cache_by_key(session, project_id, "abandoned") is None
        assert await cache_q.cache_by_key(session, project_id, "old") is not None

    report = await Janitor(db, objects, expiry_days=30).sweep()
    assert report.deleted == {"caches": 1}
    assert await objects.list("caches/") == ["caches/p/uploading.tar.zst"]
