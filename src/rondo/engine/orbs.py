"""The private orb registry: publish packed orbs, list them, resolve references for the compiler.

CircleCI Server's "Managing Orbs", offline: the public registry cannot be reached, so an admin
imports the orbs a team uses (`rondo orb import`) and configs resolve `ns/name@version` here.
Release versions (`X.Y.Z`) are immutable; `dev:label` versions can be published again.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import anyio.from_thread
import yaml
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from rondo.config.orbs import OrbNotFound, OrbRef, OrbVersion, is_exact_version, pick_version, semver_key
from rondo.store import orbs as orb_q
from rondo.store.db import Database
from rondo.store.models import Orb
from rondo.store.models import OrbVersion as OrbVersionRow
from rondo.store.types import utcnow

ORB_KEYS = ("version", "description", "display", "orbs", "commands", "executors", "jobs", "examples")
MAX_NESTING = 200  # real orbs nest about 15 deep; libyaml's C composer crashes at tens of thousands


class OrbRegistryError(Exception):
    """A publish the registry refuses (a version that is not exact, a source that is not an orb)."""


class OrbVersionExists(OrbRegistryError):
    """The release version is already published; releases never change."""


def _exists(ref: OrbRef) -> OrbVersionExists:
    return OrbVersionExists(f"{ref} is already published and releases are immutable; publish a new version instead")


@dataclass(frozen=True)
class PublishedOrbVersion(OrbVersion):
    """An orb version as the registry keeps it: the exact reference, the source, its digest and date."""

    digest: str
    created_at: datetime


@dataclass(frozen=True)
class OrbSummary:
    namespace: str
    name: str
    versions: tuple[str, ...]  # releases by semantic version, then dev versions by label
    latest: str | None  # the newest release, what `@volatile` resolves to

    @property
    def full_name(self) -> str:
        return f"{self.namespace}/{self.name}"


def source_digest(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


def sort_versions(versions: list[str]) -> list[str]:
    releases = sorted((v for v in versions if not v.startswith("dev:")), key=semver_key)
    return releases + sorted(v for v in versions if v.startswith("dev:"))


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


def _published(orb: Orb, row: OrbVersionRow) -> PublishedOrbVersion:
    return PublishedOrbVersion(OrbRef(orb.namespace, orb.name, row.version), row.source, row.digest, row.created_at)


def _summary(namespace: str, name: str, versions: list[str]) -> OrbSummary:
    return OrbSummary(namespace, name, tuple(sort_versions(versions)), pick_version(versions, "volatile"))


class OrbRegistry:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def publish(self, ref: OrbRef, source: str, user_id: str | None) -> PublishedOrbVersion:
        """Publish `source` as `ref` (an exact version). Raises OrbRegistryError / OrbVersionExists."""
        if not is_exact_version(ref.version):
            raise OrbRegistryError(
                f"version {ref.version} is not exact; publish as X.Y.Z or dev:label (not a range or volatile)"
            )
        check_orb_source(source)
        publisher = uuid.UUID(user_id) if user_id else None
        try:
            return await self._write(ref, source, publisher)
        except IntegrityError:
            pass  # another publish of this orb committed between our read and our write: read again
        try:
            return await self._write(ref, source, publisher)
        except IntegrityError:
            raise _exists(ref) from None

    async def _write(self, ref: OrbRef, source: str, publisher: uuid.UUID | None) -> PublishedOrbVersion:
        async with self._db.session() as session:
            orb = await orb_q.ensure_orb(session, ref.namespace, ref.name)
            row = await orb_q.orb_version(session, orb.id, ref.version)
            if row is not None and not ref.version.startswith("dev:"):
                raise _exists(ref)
            if row is None:
                row = OrbVersionRow(orb_id=orb.id, version=ref.version)
                session.add(row)
            row.source = source
            row.digest = source_digest(source)
            row.published_by = publisher
            row.created_at = utcnow()
            await session.flush()
            return _published(orb, row)

    async def versions(self, namespace: str, name: str) -> list[str]:
        """The orb's published versions, releases first in semantic order; [] for an unknown orb."""
        summary = await self.orb(namespace, name)
        return list(summary.versions) if summary else []

    async def orb(self, namespace: str, name: str) -> OrbSummary | None:
        async with self._db.session() as session:
            orb = await orb_q.orb_by_name(session, namespace, name)
            if orb is None:
                return None
            versions = await orb_q.version_digests(session, orb.id)
        return _summary(namespace, name, list(versions))

    async def list_orbs(self) -> list[OrbSummary]:
        async with self._db.session() as session:
            found = await orb_q.all_orb_versions(session)
        return [_summary(ns, name, versions) for (ns, name), versions in sorted(found.items())]

    async def locate(self, ref: OrbRef) -> tuple[OrbRef, str]:
        """The exact version `ref` resolves to and the digest of its source, without reading the source."""
        async with self._db.session() as session:
            _, exact, digest = await self._pick(session, ref)
        return exact, digest

    async def get(self, ref: OrbRef) -> PublishedOrbVersion:
        """Resolve `ref` (exact, `1.2`, `1`, `volatile` or `dev:label`); raises OrbNotFound."""
        async with self._db.session() as session:
            orb, exact, _ = await self._pick(session, ref)
            row = await orb_q.orb_version(session, orb.id, exact.version)
            assert row is not None, "picked from the versions just read in this transaction"
            return _published(orb, row)

    async def _pick(self, session: AsyncSession, ref: OrbRef) -> tuple[Orb, OrbRef, str]:
        orb = await orb_q.orb_by_name(session, ref.namespace, ref.name)
        if orb is None:
            raise OrbNotFound(f"Orb {ref.full_name} does not exist or is private.")
        digests = await orb_q.version_digests(session, orb.id)
        picked = pick_version(digests, ref.version)
        if picked is None:
            raise OrbNotFound(f"Unknown version {ref.version} for orb {ref.full_name}")
        return orb, OrbRef(ref.namespace, ref.name, picked), digests[picked]


class RegistryOrbSource:
    """The registry as the compiler's synchronous `OrbSource`.

    The compiler runs in a worker thread started with `anyio.to_thread.run_sync`; `resolve` hops back
    to the event loop with `anyio.from_thread.run`, so it works only in such a thread (in the event
    loop's own thread, or a thread anyio did not start, it raises RuntimeError).

    Every `resolve` asks the registry which exact version the reference names now (a new release can
    change what `@1` means) and that version's digest. Release versions never change, so their
    sources are cached in memory, keyed by (namespace, name, exact version, digest): only the small
    version list is read again, and a restored database with different content misses the cache.
    `dev:` versions are mutable and always read afresh. Keep one instance per process to share it.
    """

    def __init__(self, registry: OrbRegistry) -> None:
        self._registry = registry
        # Plain dict operations are atomic; two threads racing on a miss read the same release twice.
        self._releases: dict[tuple[str, str, str, str], PublishedOrbVersion] = {}

    def resolve(self, ref: OrbRef) -> OrbVersion:
        if ref.version.startswith("dev:"):
            return anyio.from_thread.run(self._registry.get, ref)
        exact, digest = anyio.from_thread.run(self._registry.locate, ref)
        cached = self._releases.get((exact.namespace, exact.name, exact.version, digest))
        if cached is None:
            cached = anyio.from_thread.run(self._registry.get, exact)
            self._releases[(exact.namespace, exact.name, exact.version, cached.digest)] = cached
        return cached
