"""The private orb registry on SQLite and PostgreSQL: publish, immutable releases, dev versions, resolution."""

from __future__ import annotations

import hashlib
import uuid

import anyio.to_thread
import pytest

from rondo.config.orbs import OrbNotFound, OrbRef
from rondo.engine.orb_access import ADMIN, OrbViewer, for_organization
from rondo.engine.orb_catalog import OrbCatalog
from rondo.engine.orbs import OrbRegistry, OrbRegistryError, OrbVersionExists, RegistryOrbSource
from rondo.ops.audit import SYSTEM, Origin, user_ref
from rondo.store import projects as project_q
from rondo.store import users as user_q
from rondo.store.db import Database
from tests.conftest import SHARED

ORBS = SHARED / "corpus" / "orbs"
BY_RONDO = Origin(SYSTEM)


def orb_yaml(command: str = "hello") -> str:
    return f"version: 2.1\ndescription: test orb\ncommands:\n  {command}:\n    steps:\n      - run: echo {command}\n"


@pytest.fixture
def registry(db: Database) -> OrbRegistry:
    return OrbRegistry(db)


async def publish_all(registry: OrbRegistry, orb: str, versions: list[str]) -> None:
    for version in versions:
        await registry.publish(OrbRef.parse(f"{orb}@{version}"), orb_yaml(f"v{version.replace('.', '_')}"), BY_RONDO)


async def test_publish_then_get_returns_the_source_and_its_digest(db: Database, registry: OrbRegistry) -> None:
    source = (ORBS / "circleci" / "node@5.0.2.yml").read_text()
    async with db.session() as session:
        admin = await user_q.create_user(session, "admin", "Admin", is_admin=True)
    published = await registry.publish(OrbRef.parse("circleci/node@5.0.2"), source, Origin(user_ref(admin)))
    assert str(published.ref) == "circleci/node@5.0.2"
    assert published.digest == hashlib.sha256(source.encode()).hexdigest()

    found = await registry.get(OrbRef.parse("circleci/node@5.0.2"))
    assert (found.ref, found.source, found.digest) == (published.ref, source, published.digest)
    assert found.created_at.tzinfo is not None
    assert await registry.versions("circleci", "node") == ["5.0.2"]


async def test_a_release_is_immutable(registry: OrbRegistry) -> None:
    ref = OrbRef.parse("acme/tools@1.0.0")
    await registry.publish(ref, orb_yaml("first"), BY_RONDO)
    with pytest.raises(OrbVersionExists, match="already published"):
        await registry.publish(ref, orb_yaml("second"), BY_RONDO)
    with pytest.raises(OrbVersionExists):
        await registry.publish(ref, orb_yaml("first"), BY_RONDO)  # even the same source
    assert "first" in (await registry.get(ref)).source


async def test_a_dev_version_can_be_published_again(registry: OrbRegistry) -> None:
    ref = OrbRef.parse("acme/tools@dev:alpha")
    await registry.publish(ref, orb_yaml("first"), BY_RONDO)
    second = await registry.publish(ref, orb_yaml("second"), BY_RONDO)
    found = await registry.get(ref)
    assert "second" in found.source and found.digest == second.digest
    assert await registry.versions("acme", "tools") == ["dev:alpha"]


async def test_ranges_resolve_to_the_newest_matching_release(registry: OrbRegistry) -> None:
    await publish_all(registry, "circleci/node", ["5.0.0", "7.2.1", "4.7.0", "5.2.0", "5.0.2", "dev:x", "4.0.0"])
    for wanted, resolved in [
        ("5", "5.2.0"),
        ("5.0", "5.0.2"),
        ("5.0.0", "5.0.0"),
        ("4", "4.7.0"),
        ("volatile", "7.2.1"),
    ]:
        found = await registry.get(OrbRef("circleci", "node", wanted))
        assert found.ref == OrbRef("circleci", "node", resolved), wanted
        assert f"v{resolved.replace('.', '_')}" in found.source


async def test_list_orbs_sorts_versions_and_names_the_newest_release(registry: OrbRegistry) -> None:
    await publish_all(registry, "circleci/node", ["5.10.0", "5.9.1", "dev:b", "dev:a"])
    await publish_all(registry, "acme/only-dev", ["dev:main"])
    orbs = await registry.list_orbs()
    assert [(o.full_name, list(o.versions), o.latest) for o in orbs] == [
        ("acme/only-dev", ["dev:main"], None),
        ("circleci/node", ["5.9.1", "5.10.0", "dev:a", "dev:b"], "5.10.0"),
    ]
    assert await registry.versions("nobody", "nothing") == []


async def test_not_found_messages(registry: OrbRegistry) -> None:
    await publish_all(registry, "circleci/node", ["5.0.0", "dev:alpha"])
    with pytest.raises(OrbNotFound) as missing_orb:
        await registry.get(OrbRef.parse("circleci/nope@1"))
    assert str(missing_orb.value) == "Orb circleci/nope does not exist or is private."
    for version in ("6", "5.1", "5.0.1", "dev:beta"):
        with pytest.raises(OrbNotFound) as missing_version:
            await registry.get(OrbRef("circleci", "node", version))
        assert str(missing_version.value) == f"Unknown version {version} for orb circleci/node"


async def test_publish_refuses_what_is_not_an_orb(registry: OrbRegistry) -> None:
    refused = [
        ("1", orb_yaml(), "not exact"),
        ("volatile", orb_yaml(), "not exact"),
        ("1.0.0", "commands: [unclosed", "not valid YAML"),
        ("1.0.0", "- a list\n", "must be a YAML mapping"),
        ("1.0.0", "version: 2.1\nworkflows: {}\n", "unknown top-level keys workflows"),
        ("1.0.0", "version: 2\ncommands: {}\n", "version: 2.1"),
        ("1.0.0", "version: 2.1\njobs: " + "[" * 50_000 + "]" * 50_000, "nests more than 200 levels"),
    ]
    for version, source, problem in refused:
        with pytest.raises(OrbRegistryError, match=problem):
            await registry.publish(OrbRef("acme", "tools", version), source, BY_RONDO)
    assert await registry.versions("acme", "tools") == []


async def test_registry_orb_source_resolves_from_a_worker_thread(registry: OrbRegistry) -> None:
    """The compiler's view: synchronous resolve from a worker thread; ranges follow new releases."""
    source = RegistryOrbSource(registry)
    await publish_all(registry, "acme/tools", ["1.0.0"])
    await registry.publish(OrbRef.parse("acme/tools@dev:main"), orb_yaml("dev_one"), BY_RONDO)

    first = await anyio.to_thread.run_sync(source.resolve, OrbRef.parse("acme/tools@1"))
    assert str(first.ref) == "acme/tools@1.0.0"
    again = await anyio.to_thread.run_sync(source.resolve, OrbRef.parse("acme/tools@1.0"))
    assert again is first  # a release is read once

    await publish_all(registry, "acme/tools", ["1.1.0"])
    newer = await anyio.to_thread.run_sync(source.resolve, OrbRef.parse("acme/tools@1"))
    assert str(newer.ref) == "acme/tools@1.1.0"

    dev = await anyio.to_thread.run_sync(source.resolve, OrbRef.parse("acme/tools@dev:main"))
    assert "dev_one" in dev.source
    await registry.publish(OrbRef.parse("acme/tools@dev:main"), orb_yaml("dev_two"), BY_RONDO)
    dev = await anyio.to_thread.run_sync(source.resolve, OrbRef.parse("acme/tools@dev:main"))
    assert "dev_two" in dev.source  # dev versions are read afresh

    with pytest.raises(OrbNotFound, match="Unknown version 2 for orb acme/tools"):
        await anyio.to_thread.run_sync(source.resolve, OrbRef.parse("acme/tools@2"))


async def acme_orb(db: Database, private: bool) -> tuple[OrbCatalog, uuid.UUID]:
    """gh/acme's namespace `acme` with the orb `acme/tools`; the organization's id."""
    async with db.session() as session:
        org = await project_q.ensure_organization(session, "gh", "gh/acme", "acme")
    catalog = OrbCatalog(db)
    namespace = await catalog.create_namespace("acme", org.id, ADMIN, BY_RONDO)
    await catalog.create_orb(namespace.id, "tools", private, ADMIN, BY_RONDO)
    return catalog, org.id


async def test_promote_takes_a_release_or_a_segment(db: Database, registry: OrbRegistry) -> None:
    await acme_orb(db, private=False)
    await registry.publish_version("acme", "tools", "dev:x", orb_yaml("x"), ADMIN, BY_RONDO)
    promoted = []
    for wanted in ("minor", "patch", "major", "1.4.0"):
        promoted.append((await registry.promote("acme", "tools", "dev:x", wanted, ADMIN, BY_RONDO)).ref.version)
    assert promoted == ["0.1.0", "0.1.1", "1.0.0", "1.4.0"]
    assert (await registry.releases((await registry.get(OrbRef.parse("acme/tools@1"))).orb_id, 2)) == [
        await registry.get(OrbRef.parse("acme/tools@1.4.0")),
        await registry.get(OrbRef.parse("acme/tools@1.0.0")),
    ]
    with pytest.raises(OrbVersionExists):
        await registry.promote("acme", "tools", "dev:x", "1.0.0", ADMIN, BY_RONDO)
    for wrong in ("dev:y", "1.2", "volatile"):
        with pytest.raises(OrbRegistryError, match="not a release version"):
            await registry.promote("acme", "tools", "dev:x", wrong, ADMIN, BY_RONDO)
    with pytest.raises(OrbRegistryError, match="does not exist"):
        await registry.promote("acme", "tools", "dev:missing", "patch", ADMIN, BY_RONDO)


async def test_private_orbs_resolve_only_for_their_organization(db: Database, registry: OrbRegistry) -> None:
    _, acme = await acme_orb(db, private=True)
    await registry.publish_version("acme", "tools", "1.0.0", orb_yaml(), ADMIN, BY_RONDO)
    ref = OrbRef.parse("acme/tools@1")
    found = await anyio.to_thread.run_sync(registry.source(for_organization(acme)).resolve, ref)
    assert str(found.ref) == "acme/tools@1.0.0"
    for outsider in (registry.source(), registry.source(for_organization(uuid.uuid4()))):
        with pytest.raises(OrbNotFound, match="acme/tools does not exist or is private"):
            await anyio.to_thread.run_sync(outsider.resolve, ref)  # the release is cached, and still hidden
    assert await registry.list_orbs() == []
    assert [o.full_name for o in await registry.list_orbs(for_organization(acme))] == ["acme/tools"]
    member = OrbViewer(org_ids=frozenset({acme}))
    with pytest.raises(OrbRegistryError, match=r"Orb acme/tools does not exist; create it"):  # private: unseen
        await registry.publish_version("acme", "tools", "dev:y", orb_yaml(), OrbViewer(), BY_RONDO)
    published = await registry.publish_version("acme", "tools", "dev:y", orb_yaml(), member, BY_RONDO)
    assert published.ref.version == "dev:y"
