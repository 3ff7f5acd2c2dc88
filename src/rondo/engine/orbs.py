"""The private orb registry's versions: publish packed orbs, promote dev versions, resolve references.

CircleCI Server's "Managing Orbs", offline: the public registry cannot be reached, so an admin
imports the orbs a team uses (`rondo orb import`, `circleci admin import-orb`), organizations
publish their own (`circleci orb publish`), and configs resolve `ns/name@version` here.
Release versions (`X.Y.Z`) are immutable; `dev:label` versions can be published again.
Namespaces and orbs themselves (create, list, private, categories) are `orb_catalog`'s.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

import anyio.from_thread
import anyio.to_thread
import yaml
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from rondo import config
from rondo.config.orbs import OrbNotFound, OrbRef, OrbVersion, is_exact_version, pick_version, semver_key
from rondo.engine.orb_access import PUBLIC, OrbViewer
from rondo.engine.orb_errors import OrbAccessDenied, OrbMissing, OrbRegistryError, OrbVersionExists
from rondo.ops.audit import SERVER_SCOPE, Origin, Ref, org_ref, record
from rondo.store import orbs as orb_q
from rondo.store.db import Database
from rondo.store.models import Orb, OrbNamespace, Organization
from rondo.store.models import OrbVersion as OrbVersionRow
from rondo.store.types import utcnow

__all__ = ["OrbRegistryError", "OrbVersionExists"]  # re-exported: callers catch them from here

ORB_KEYS = ("version", "description", "display", "orbs", "commands", "executors", "jobs", "examples")
MAX_NESTING = 200  # real orbs nest about 15 deep; libyaml's C composer crashes at tens of thousands
SEGMENTS = ("major", "minor", "patch")


def _exists(ref: OrbRef) -> OrbVersionExists:
    return OrbVersionExists(f"{ref} is already published and releases are immutable; publish a new version instead")


@dataclass(frozen=True)
class PublishedOrbVersion(OrbVersion):
    """An orb version as the registry keeps it: the exact reference, the source, its digest and date."""

    digest: str
    created_at: datetime
    id: uuid.UUID
    orb_id: uuid.UUID


@dataclass(frozen=True)
class OrbSummary:
    namespace: str
    name: str
    versions: tuple[str, ...]  # releases by semantic version, then dev versions by label
    latest: str | None  # the newest release, what `@volatile` resolves to
    is_private: bool = False
    listed: bool = True

    @property
    def full_name(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class OrbCheck:
    """What `circleci orb validate|process` shows: valid or the errors, the source and the processed orb."""

    valid: bool
    errors: tuple[str, ...]
    source_yaml: str
    output_yaml: str


def source_digest(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


def sort_versions(versions: list[str]) -> list[str]:
    releases = sorted((v for v in versions if not v.startswith("dev:")), key=semver_key)
    return releases + sorted(v for v in versions if v.startswith("dev:"))


def bump(latest: str | None, segment: str) -> str:
    """The release after `latest` (0.0.0 when there is none) in `segment`: major, minor or patch."""
    major, minor, patch = semver_key(latest or "0.0.0")
    if segment == "major":
        return f"{major + 1}.0.0"
    if segment == "minor":
        return f"{major}.{minor + 1}.0"
    return f"{major}.{minor}.{patch + 1}"


def check_orb_source(source: str) -> None:
    """Raise OrbRegistryError unless `source` is a packed orb: a YAML mapping of orb keys, `version: 2.1`."""
    try:
        _check_nesting(source)
        data: Any = yaml.load(source, Loader=yaml.CSafeLoader)
    except yaml.YAMLError as exc:
        raise OrbRegistryError(f"the orb source is not valid YAML: {_yaml_problem(exc)}") from None
    if not isinstance(data, dict):
        raise OrbRegistryError("the orb source must be a YAML mapping with keys such as version, commands and jobs")
    unknown = sorted(str(k) for k in data if k not in ORB_KEYS)
    if unknown:
        raise OrbRegistryError(
            f"the orb source has unknown top-level keys {', '.join(unknown)}; an orb may have only "
            f"{', '.join(ORB_KEYS)}"
        )
    if str(data.get("version")) != "2.1":
        raise OrbRegistryError(f"an orb must declare 'version: 2.1' (found {data.get('version')!r})")


def _check_nesting(source: str) -> None:
    """Refuse deep nesting from the parser's event stream, before libyaml's recursive composer sees it."""
    depth = 0
    for event in yaml.parse(source, Loader=yaml.CSafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_NESTING:
                raise OrbRegistryError(f"the orb source nests more than {MAX_NESTING} levels deep")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _yaml_problem(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return f"{exc.problem or exc.context} at line {mark.line + 1}, column {mark.column + 1}"
    return str(exc)


def _published(namespace: str, orb: Orb, row: OrbVersionRow) -> PublishedOrbVersion:
    ref = OrbRef(namespace, orb.name, row.version)
    return PublishedOrbVersion(ref, row.source, row.digest, row.created_at, row.id, orb.id)


def _summary(namespace: str, orb: Orb, versions: list[str]) -> OrbSummary:
    latest = pick_version(versions, "volatile")
    return OrbSummary(namespace, orb.name, tuple(sort_versions(versions)), latest, orb.is_private, orb.listed)


def namespace_target(namespace: OrbNamespace) -> Ref:
    return Ref(str(namespace.id), "orb_namespace", namespace.name)


def orb_target(namespace: OrbNamespace, orb: Orb) -> Ref:
    return Ref(str(orb.id), "orb", f"{namespace.name}/{orb.name}")


async def registry_scope(session: AsyncSession, namespace: OrbNamespace) -> Ref:
    """The audit scope of a namespace's events: its organization, or the server for imported namespaces."""
    if namespace.organization_id is None:
        return SERVER_SCOPE
    org = await session.get(Organization, namespace.organization_id)
    return org_ref(org) if org is not None else SERVER_SCOPE


async def audit(
    session: AsyncSession, action: str, origin: Origin, namespace: OrbNamespace, target: Ref, payload: dict[str, Any]
) -> None:
    """Record a registry event in the session's transaction, scoped to the namespace's organization."""
    record(session, action, origin, target, await registry_scope(session, namespace), payload)


def _publisher(origin: Origin) -> uuid.UUID | None:
    return uuid.UUID(origin.actor.id) if origin.actor.type == "user" else None


class OrbRegistry:
    def __init__(self, db: Database) -> None:
        self._db = db
        # Release sources by (namespace, name, exact version, digest), shared by every RegistryOrbSource.
        self._release_cache: dict[tuple[str, str, str, str], PublishedOrbVersion] = {}

    def source(self, viewer: OrbViewer = PUBLIC) -> RegistryOrbSource:
        """The registry as the compiler's `OrbSource`, resolving the private orbs `viewer` sees."""
        return RegistryOrbSource(self, viewer, self._release_cache)

    # ---- publishing ---------------------------------------------------------------------------

    async def publish(self, ref: OrbRef, source: str, origin: Origin) -> PublishedOrbVersion:
        """An administrator's import (`rondo orb import`, REST): the namespace and orb are made if missing.

        Only the shape of the source is checked, so orbs that import each other can arrive in any
        order. Raises OrbRegistryError / OrbVersionExists.
        """
        _exact(ref.version)
        check_orb_source(source)
        try:
            return await self._import(ref, source, origin)
        except IntegrityError:
            pass  # another publish of this orb committed between our read and our write: read again
        try:
            return await self._import(ref, source, origin)
        except IntegrityError:
            raise _exists(ref) from None

    async def _import(self, ref: OrbRef, source: str, origin: Origin) -> PublishedOrbVersion:
        async with self._db.session() as session:
            orb, ns, new_namespace, new_orb = await orb_q.ensure_orb(session, ref.namespace, ref.name)
            if new_namespace:
                payload = {"name": ns.name, "imported": True}
                await audit(session, "orb.namespace.create", origin, ns, namespace_target(ns), payload)
            if new_orb:
                payload = {"name": ref.full_name, "private": False, "imported": True}
                await audit(session, "orb.create", origin, ns, orb_target(ns, orb), payload)
            return await self._store(session, ns, orb, ref.version, source, origin)

    async def publish_version(
        self, namespace: str, name: str, version: str, source: str, viewer: OrbViewer, origin: Origin
    ) -> PublishedOrbVersion:
        """`circleci orb publish`: a version of an orb made before (`orb create`), checked like `orb validate`."""
        _exact(version)
        checked = await self.check(source, viewer)
        if not checked.valid:
            raise OrbRegistryError("\n".join(checked.errors))
        with _raced(f"{namespace}/{name}@{version}"):
            async with self._db.session() as session:
                orb, ns = await self._changeable(session, namespace, name, viewer)
                return await self._store(session, ns, orb, version, source, origin)

    async def import_version(
        self, orb_id: uuid.UUID, version: str, source: str, viewer: OrbViewer, origin: Origin
    ) -> PublishedOrbVersion:
        """`circleci admin import-orb`: a version copied from another registry, checked for its shape."""
        if not viewer.admin:
            raise OrbAccessDenied("Only administrators import orbs.")
        _exact(version)
        check_orb_source(source)
        with _raced(f"version {version}"):
            async with self._db.session() as session:
                found = await orb_q.orb_by_id(session, orb_id)
                if found is None:
                    raise OrbMissing("No orb has that id.")
                orb, ns = found
                return await self._store(session, ns, orb, version, source, origin)

    async def promote(
        self, namespace: str, name: str, dev_version: str, semantic: str, viewer: OrbViewer, origin: Origin
    ) -> PublishedOrbVersion:
        """`circleci orb promote`: publish a dev version's source as a release.

        `semantic` is the release (the CLI sends the next version it computed) or major/minor/patch.
        """
        if not dev_version.startswith("dev:"):
            raise OrbRegistryError(f"{dev_version} is not a dev version (dev:label)")
        with _raced(f"{namespace}/{name}@{semantic}"):
            async with self._db.session() as session:
                orb, ns = await self._changeable(session, namespace, name, viewer)
                dev = await orb_q.orb_version(session, orb.id, dev_version)
                if dev is None:
                    raise OrbMissing(f"Orb {namespace}/{name}@{dev_version} does not exist.")
                if semantic in SEGMENTS:
                    semantic = bump(pick_version(await orb_q.version_digests(session, orb.id), "volatile"), semantic)
                elif semantic.startswith("dev:") or not is_exact_version(semantic):
                    raise OrbRegistryError(f"{semantic} is not a release version X.Y.Z (or major, minor, patch)")
                published = await self._store(session, ns, orb, semantic, dev.source, origin, publish=False)
                payload = {"dev_version": dev_version, "version": semantic, "digest": published.digest}
                await audit(session, "orb.version.promote", origin, ns, orb_target(ns, orb), payload)
                return published

    async def _changeable(
        self, session: AsyncSession, namespace: str, name: str, viewer: OrbViewer
    ) -> tuple[Orb, OrbNamespace]:
        found = await orb_q.orb_by_name(session, namespace, name)
        if found is None or not viewer.sees(*found):
            if await orb_q.namespace_named(session, namespace) is None:
                raise OrbMissing(f"Namespace {namespace} does not exist; create it with `circleci namespace create`.")
            raise OrbMissing(f"Orb {namespace}/{name} does not exist; create it with `circleci orb create`.")
        orb, ns = found
        if not viewer.may_change(ns):
            raise OrbAccessDenied(f"You may not publish to the {namespace} namespace of another organization.")
        return orb, ns

    async def _store(
        self,
        session: AsyncSession,
        ns: OrbNamespace,
        orb: Orb,
        version: str,
        source: str,
        origin: Origin,
        *,
        publish: bool = True,
    ) -> PublishedOrbVersion:
        ref = OrbRef(ns.name, orb.name, version)
        row = await orb_q.orb_version(session, orb.id, version)
        if row is not None and not version.startswith("dev:"):
            raise _exists(ref)
        replaced = row is not None
        if row is None:
            row = OrbVersionRow(orb_id=orb.id, version=version)
            session.add(row)
        row.source = source
        row.digest = source_digest(source)
        row.published_by = _publisher(origin)
        row.created_at = utcnow()
        await session.flush()
        if publish:
            payload = {"version": version, "digest": row.digest, "replaced": replaced}
            await audit(session, "orb.version.publish", origin, ns, orb_target(ns, orb), payload)
        return _published(ns.name, orb, row)

    async def check(self, source: str, viewer: OrbViewer = PUBLIC) -> OrbCheck:
        """`circleci orb validate|process`: the config compiler's checks, imported orbs resolved as `viewer`."""
        try:
            checked = await anyio.to_thread.run_sync(
                partial(config.check_orb, source, filename="orb.yml", orb_source=self.source(viewer))
            )
        except config.ConfigErrors as exc:
            return OrbCheck(False, tuple(str(e) for e in exc.errors), source, "")
        return OrbCheck(True, (), source, checked.output_yaml)

    # ---- reading ------------------------------------------------------------------------------

    async def versions(self, namespace: str, name: str, viewer: OrbViewer = PUBLIC) -> list[str]:
        """The orb's published versions, releases first in semantic order; [] for an unknown orb."""
        summary = await self.orb(namespace, name, viewer)
        return list(summary.versions) if summary else []

    async def orb(self, namespace: str, name: str, viewer: OrbViewer = PUBLIC) -> OrbSummary | None:
        async with self._db.session() as session:
            found = await orb_q.orb_by_name(session, namespace, name)
            if found is None or not viewer.sees(*found):
                return None
            versions = await orb_q.version_digests(session, found[0].id)
        return _summary(namespace, found[0], list(versions))

    async def list_orbs(self, viewer: OrbViewer = PUBLIC) -> list[OrbSummary]:
        async with self._db.session() as session:
            found = await orb_q.all_orb_versions(session, viewer.visible())
        return [_summary(ns, orb, versions) for (ns, _), (orb, versions) in sorted(found.items())]

    async def releases(self, orb_id: uuid.UUID, count: int | None = None) -> list[PublishedOrbVersion]:
        """An orb's releases, newest first (what `versions(count:)` answers); the caller has seen the orb."""
        async with self._db.session() as session:
            found = await orb_q.orb_by_id(session, orb_id)
            if found is None:
                return []
            rows = sorted(await orb_q.releases(session, orb_id), key=lambda r: semver_key(r.version), reverse=True)
        orb, ns = found
        return [_published(ns.name, orb, row) for row in rows[:count]]

    async def find(self, ref: OrbRef, viewer: OrbViewer = PUBLIC) -> PublishedOrbVersion | None:
        """What `ref` resolves to, or None: a missing orb, version or private orb are all just absent."""
        try:
            return await self.get(ref, viewer)
        except OrbNotFound:
            return None

    async def locate(self, ref: OrbRef, viewer: OrbViewer = PUBLIC) -> tuple[OrbRef, str]:
        """The exact version `ref` resolves to and the digest of its source, without reading the source."""
        async with self._db.session() as session:
            _, exact, digest = await self._pick(session, ref, viewer)
        return exact, digest

    async def get(self, ref: OrbRef, viewer: OrbViewer = PUBLIC) -> PublishedOrbVersion:
        """Resolve `ref` (exact, `1.2`, `1`, `volatile` or `dev:label`); raises OrbNotFound."""
        async with self._db.session() as session:
            orb, exact, _ = await self._pick(session, ref, viewer)
            row = await orb_q.orb_version(session, orb.id, exact.version)
            assert row is not None, "picked from the versions just read in this transaction"
            return _published(ref.namespace, orb, row)

    async def _pick(self, session: AsyncSession, ref: OrbRef, viewer: OrbViewer) -> tuple[Orb, OrbRef, str]:
        found = await orb_q.orb_by_name(session, ref.namespace, ref.name)
        if found is None or not viewer.sees(*found):
            raise OrbNotFound(f"Orb {ref.full_name} does not exist or is private.")
        orb = found[0]
        digests = await orb_q.version_digests(session, orb.id)
        picked = pick_version(digests, ref.version)
        if picked is None:
            raise OrbNotFound(f"Unknown version {ref.version} for orb {ref.full_name}")
        return orb, OrbRef(ref.namespace, ref.name, picked), digests[picked]


@contextmanager
def _raced(what: str) -> Iterator[None]:
    """Another publish of the same version committed between our read and our write."""
    try:
        yield
    except IntegrityError:
        raise OrbVersionExists(f"{what} was published by someone else just now; releases are immutable") from None


def _exact(version: str) -> None:
    if not is_exact_version(version):
        raise OrbRegistryError(
            f"version {version} is not exact; publish as X.Y.Z or dev:label (not a range or volatile)"
        )


class RegistryOrbSource:
    """The registry as the compiler's synchronous `OrbSource`, seeing the private orbs its viewer sees.

    The compiler runs in a worker thread started with `anyio.to_thread.run_sync`; `resolve` hops back
    to the event loop with `anyio.from_thread.run`, so it works only in such a thread (in the event
    loop's own thread, or a thread anyio did not start, it raises RuntimeError).

    Every `resolve` asks the registry which exact version the reference names now (a new release can
    change what `@1` means), and whether the viewer may see it, and that version's digest. Release
    versions never change, so their sources are cached in memory, keyed by (namespace, name, exact
    version, digest): only the small version list is read again, and a restored database with
    different content misses the cache. `dev:` versions are mutable and always read afresh. The
    registry shares one cache among all its sources (`OrbRegistry.source`).
    """

    def __init__(
        self,
        registry: OrbRegistry,
        viewer: OrbViewer = PUBLIC,
        releases: dict[tuple[str, str, str, str], PublishedOrbVersion] | None = None,
    ) -> None:
        self._registry = registry
        self._viewer = viewer
        # Plain dict operations are atomic; two threads racing on a miss read the same release twice.
        self._releases = releases if releases is not None else {}

    def resolve(self, ref: OrbRef) -> OrbVersion:
        if ref.version.startswith("dev:"):
            return anyio.from_thread.run(self._registry.get, ref, self._viewer)
        exact, digest = anyio.from_thread.run(self._registry.locate, ref, self._viewer)
        cached = self._releases.get((exact.namespace, exact.name, exact.version, digest))
        if cached is None:
            cached = anyio.from_thread.run(self._registry.get, exact, self._viewer)
            self._releases[(exact.namespace, exact.name, exact.version, cached.digest)] = cached
        return cached
