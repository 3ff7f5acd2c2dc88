"""/graphql-unstable replayed with the `circleci` CLI's own documents and headers, on the real app and database.

The flow a team follows: an admin lists the members of `gh/acme`; a member looks the organization up,
creates its namespace and orbs, publishes a dev version, promotes it, increments it, lists, reads and
validates orbs; private orbs stay with acme's members; an admin imports orbs as `admin import-orb` does;
and pipelines compile configs that use the published orbs (the compiler reads the registry).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest

from rondo.server.app import build_services, create_app
from rondo.server.services import Services
from rondo.settings import Settings
from tests.conftest import SHARED, commit_files, make_repo
from tests.server import cli_graphql as cli
from tests.server.cli_graphql import CircleCli, GraphQLFailed, increment

NODE = SHARED / "corpus" / "orbs" / "circleci" / "node@5.0.2.yml"

TOOLS = """\
version: 2.1
description: Acme's tools
commands:
  greet:
    parameters:
      who: {type: string, default: world}
    steps:
      - run: echo hello << parameters.who >>
jobs:
  hello:
    docker: [{image: cimg/base:stable}]
    steps: [greet]
"""
TOOLS_V2 = TOOLS.replace("echo hello", "echo hi there")
SECRET = """\
version: 2.1
commands:
  deploy:
    steps:
      - run: echo deploying with acme's secret recipe
"""
BAD_ORB = """\
version: 2.1
workflows: {}
jobs:
  broken:
    steps: [checkout]
"""


def config_using(*refs: str) -> str:
    orbs = "".join(f"  o{i}: {ref}\n" for i, ref in enumerate(refs))
    steps = "".join(f"      - o{i}/{'deploy' if 'secret' in ref else 'greet'}\n" for i, ref in enumerate(refs))
    return (
        f"version: 2.1\norbs:\n{orbs}jobs:\n  build:\n    docker: [{{image: cimg/base:stable}}]\n"
        f"    steps:\n{steps}workflows:\n  main:\n    jobs: [build]\n"
    )


@dataclass
class World:
    svc: Services
    http: httpx2.AsyncClient  # with no credentials of its own
    admin: CircleCli
    dev: CircleCli  # a listed member of gh/acme
    eve: CircleCli  # works in every open organization, but is not a member of gh/acme
    admin_token: str
    acme_id: str
    other_id: str
    repos: dict[str, Path]

    def rest(self, cli_client: CircleCli) -> dict[str, str]:
        return {"Circle-Token": cli_client.headers["Authorization"]}


@pytest.fixture
async def world(tmp_path: Path, database_url: str) -> AsyncIterator[World]:
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, builtin_agent=False)
    svc = build_services(settings)
    first = await svc.accounts.first_start(settings.resolved_data_dir)
    assert first is not None
    transport = httpx2.ASGITransport(app=create_app(services=svc))
    async with httpx2.AsyncClient(transport=transport, base_url="http://rondo.test") as http:
        admin_rest = {"Circle-Token": first.admin_token}
        tokens = {}
        for login in ("dev", "eve"):
            resp = await http.post("/api/v2/admin/users", json={"login": login}, headers=admin_rest)
            assert resp.status_code == 201, resp.text
            tokens[login] = resp.json()["token"]
        repos, org_ids = {}, {}
        for org in ("acme", "other"):
            repos[org] = make_repo(tmp_path / f"{org}-app", {".circleci/config.yml": config_using()})
            body = {"vcs_url": str(repos[org])}
            resp = await http.post(f"/api/v2/project/gh/{org}/app", json=body, headers=admin_rest)
            assert resp.status_code == 201, resp.text
            org_ids[org] = resp.json()["organization_id"]
        resp = await http.put(f"/api/v2/organizations/{org_ids['acme']}/members/dev", headers=admin_rest)
        assert resp.status_code == 200, resp.text
        yield World(
            svc,
            http,
            CircleCli(http, first.admin_token),
            CircleCli(http, tokens["dev"]),
            CircleCli(http, tokens["eve"]),
            first.admin_token,
            org_ids["acme"],
            org_ids["other"],
            repos,
        )
    await svc.db.close()


async def acme_namespace(world: World) -> str:
    """`circleci namespace create acme github acme` (the deprecated form: the organization by name)."""
    org = (await world.dev.run(cli.ORGANIZATION_BY_NAME, orgName="acme", vcsType="GITHUB"))["organization"]
    assert org == {"id": world.acme_id, "name": "acme", "vcsType": "GITHUB"}
    created = await world.dev.mutate(cli.CREATE_NAMESPACE, "createNamespace", name="acme", organizationId=org["id"])
    return str(created["namespace"]["id"])


async def create_orb(client: CircleCli, namespace: str, name: str, private: bool = False) -> str:
    """`circleci orb create ns/name [--private]`."""
    namespace_id = await client.namespace_id(namespace)
    payload = await client.mutate(
        cli.CREATE_ORB, "createOrb", name=name, registryNamespaceId=namespace_id, isPrivate=private
    )
    return str(payload["orb"]["id"])


async def publish(client: CircleCli, source: str, ref: str) -> str:
    """`circleci orb publish FILE ns/name@version`."""
    full, _, version = ref.partition("@")
    namespace, _, name = full.partition("/")
    payload = await client.mutate(
        cli.PUBLISH_ORB, "publishOrb", config=source, orbName=name, namespaceName=namespace, version=version
    )
    return str(payload["orb"]["version"])


async def promote(client: CircleCli, ref: str, segment: str) -> dict[str, Any]:
    """`circleci orb promote ns/name@dev:label segment`: the CLI computes the release itself."""
    full, _, dev_version = ref.partition("@")
    namespace, _, name = full.partition("/")
    release = increment(await client.latest_version(namespace, name), segment)
    payload = await client.mutate(
        cli.PROMOTE_ORB,
        "promoteOrb",
        orbName=name,
        namespaceName=namespace,
        devVersion=dev_version,
        semanticVersion=release,
    )
    return dict(payload["orb"])


async def published_acme(world: World) -> None:
    """acme/tools at 0.0.1 (promoted) and 0.0.2 (incremented); acme/secret, private, at dev:main."""
    await acme_namespace(world)
    await create_orb(world.dev, "acme", "tools")
    await create_orb(world.dev, "acme", "secret", private=True)
    assert await publish(world.dev, TOOLS, "acme/tools@dev:alpha") == "dev:alpha"
    assert (await promote(world.dev, "acme/tools@dev:alpha", "patch"))["version"] == "0.0.1"
    bumped = increment(await world.dev.latest_version("acme", "tools"), "patch")
    assert await publish(world.dev, TOOLS_V2, f"acme/tools@{bumped}") == "0.0.2"
    await publish(world.dev, SECRET, "acme/secret@dev:main")


async def test_namespace_create_and_orb_create(world: World) -> None:
    namespace_id = await acme_namespace(world)
    by_id = (await world.dev.run(cli.ORGANIZATION_BY_ID, orgId=world.acme_id))["organization"]
    assert by_id["name"] == "acme"
    assert await world.dev.namespace_id("acme") == namespace_id
    exists = (await world.dev.run(cli.NAMESPACE_EXISTS, name="nobody"))["registryNamespace"]
    assert not (exists or {}).get("id")  # the CLI: "the namespace 'nobody' does not exist"

    with pytest.raises(GraphQLFailed, match=r"^Namespace already exists$"):
        await world.dev.mutate(cli.CREATE_NAMESPACE, "createNamespace", name="acme", organizationId=world.acme_id)
    with pytest.raises(GraphQLFailed, match="already has the namespace acme"):
        await world.dev.mutate(cli.CREATE_NAMESPACE, "createNamespace", name="acme2", organizationId=world.acme_id)
    # eve works in gh/other (it lists nobody) but not in gh/acme
    assert (await world.eve.run(cli.ORGANIZATION_BY_NAME, orgName="acme", vcsType="GITHUB"))["organization"] is None
    with pytest.raises(GraphQLFailed, match="No organization you belong to"):
        await world.eve.mutate(cli.CREATE_NAMESPACE, "createNamespace", name="evil", organizationId=world.acme_id)
    other = await world.eve.mutate(
        cli.CREATE_NAMESPACE, "createNamespace", name="other-tools", organizationId=world.other_id
    )
    assert other["namespace"]["id"]
    with pytest.raises(GraphQLFailed, match="not a valid namespace name"):
        await world.admin.mutate(cli.CREATE_NAMESPACE, "createNamespace", name="Bad Name", organizationId=world.acme_id)

    tools_id = await create_orb(world.dev, "acme", "tools")
    with pytest.raises(GraphQLFailed, match="Orb acme/tools already exists"):
        await create_orb(world.dev, "acme", "tools")
    with pytest.raises(GraphQLFailed, match="You may not create orbs in the acme namespace"):
        await create_orb(world.eve, "acme", "sneaky")
    assert await create_orb(world.admin, "acme", "by-admin")  # administrators always may
    exists = await world.dev.run(cli.ORB_EXISTS, name="acme/tools", namespace="acme")
    assert exists == {"orb": {"id": tools_id, "isPrivate": False}, "registryNamespace": {"id": namespace_id}}
    # a new orb has no versions: the CLI assumes 0.0.0 before incrementing or promoting
    assert await world.dev.latest_version("acme", "tools") == "0.0.0"


async def test_publish_promote_increment_list_source_info(world: World) -> None:
    await published_acme(world)

    with pytest.raises(GraphQLFailed, match=r"0\.0\.1 is already published and releases are immutable"):
        await publish(world.dev, TOOLS, "acme/tools@0.0.1")
    with pytest.raises(GraphQLFailed, match="create it with `circleci orb create`"):
        await publish(world.dev, TOOLS, "acme/unmade@dev:x")
    with pytest.raises(GraphQLFailed, match="You may not publish to the acme namespace"):
        await publish(world.eve, TOOLS, "acme/tools@dev:eve")
    assert await publish(world.dev, TOOLS_V2, "acme/tools@dev:alpha") == "dev:alpha"  # dev labels move
    promoted = await promote(world.dev, "acme/tools@dev:alpha", "minor")
    assert (promoted["version"], promoted["source"]) == ("0.1.0", TOOLS_V2)
    with pytest.raises(GraphQLFailed, match=r"acme/tools@dev:nope does not exist"):
        await promote(world.dev, "acme/tools@dev:nope", "patch")
    # an invalid orb is refused with the compiler's messages, positions included
    with pytest.raises(GraphQLFailed) as refused:
        await publish(world.dev, BAD_ORB, "acme/tools@dev:bad")
    assert "orb.yml:2:1 at workflows: `workflows` is not allowed in an orb" in str(refused.value)
    assert "job 'broken' needs an executor" in str(refused.value)

    listed = await world.eve.list_orbs()
    assert [(o["name"], o["versions"][0]["version"]) for o in listed] == [("acme/tools", "0.1.0")]
    assert listed[0]["versions"][0]["source"] == TOOLS_V2
    assert listed[0]["statistics"] == {
        "last30DaysBuildCount": 0,
        "last30DaysProjectCount": 0,
        "last30DaysOrganizationCount": 0,
    }
    assert [o["name"] for o in await world.eve.list_orbs(uncertified=True)] == ["acme/tools"]

    plain = await world.eve.list_namespace_orbs("acme", private=False, details=False)
    assert plain == [
        {
            "versions": [{"version": "0.1.0"}, {"version": "0.0.2"}, {"version": "0.0.1"}],
            "name": "acme/tools",
            "statistics": listed[0]["statistics"],
        }
    ]
    detailed = await world.eve.list_namespace_orbs("acme", private=False, details=True)
    assert detailed[0]["versions"] == [{"source": TOOLS_V2, "version": "0.1.0"}]
    with pytest.raises(GraphQLFailed, match="No namespace found"):
        await world.eve.list_namespace_orbs("nobody", private=False, details=False)

    assert await world.eve.orb_source("acme/tools") == TOOLS_V2  # no version: @volatile
    assert await world.eve.orb_source("acme/tools@0.0.1") == TOOLS
    assert await world.eve.orb_source("acme/tools@0.0") == TOOLS_V2  # 0.0.2
    assert await world.eve.orb_source("acme/tools@9.9.9") is None  # the CLI: no Orb ... was found
    with pytest.raises(GraphQLFailed, match="is not an orb reference"):
        await world.eve.orb_source("acme/tools@not a version")

    info = await world.eve.orb_info("acme/tools@0.0.2")
    assert info is not None
    assert (info["version"], info["source"]) == ("0.0.2", TOOLS_V2)
    orb = info["orb"]
    assert (orb["name"], orb["namespace"], orb["categories"]) == ("acme/tools", {"name": "acme"}, [])
    assert [v["version"] for v in orb["versions"]] == ["0.1.0", "0.0.2", "0.0.1"]  # newest first
    assert all(v["createdAt"].endswith("Z") for v in orb["versions"]) and orb["createdAt"].endswith("Z")
    assert (await world.eve.orb_info("acme/tools@dev:alpha") or {})["source"] == TOOLS_V2


async def test_validate_and_process(world: World) -> None:
    await published_acme(world)
    good = (await world.eve.run(cli.VALIDATE_ORB, config=TOOLS))["orbConfig"]
    assert (good["valid"], good["errors"], good["sourceYaml"]) == (True, [], TOOLS)
    assert "greet:" in good["outputYaml"] and "echo hello << parameters.who >>" in good["outputYaml"]

    # an orb that uses another orb: `orb process` names what the import resolved to
    uses = (
        "version: 2.1\norbs:\n  tools: acme/tools@0.0\n"
        "jobs:\n  go:\n    docker: [{image: x}]\n    steps: [tools/greet]\n"
    )
    processed = (await world.eve.run(cli.VALIDATE_ORB, config=uses))["orbConfig"]
    assert processed["valid"] is True
    assert processed["outputYaml"].startswith("# Orb 'acme/tools@0.0' resolved to 'acme/tools@0.0.2'\n")

    bad = (await world.eve.run(cli.VALIDATE_ORB, config=BAD_ORB))["orbConfig"]
    assert bad["valid"] is False and bad["outputYaml"] == ""
    assert [e["message"] for e in bad["errors"]] == [
        "orb.yml:2:1 at workflows: `workflows` is not allowed in an orb; an orb has only commands, description, "
        "display, examples, executors, jobs, orbs, version",
        "orb.yml:4:3 at jobs.broken: job 'broken' needs an executor: `docker`, `machine`, `macos` or `executor`",
    ]
    not_yaml = (await world.eve.run(cli.VALIDATE_ORB, config="commands: [unclosed"))["orbConfig"]
    assert not_yaml["valid"] is False and "YAML error" in not_yaml["errors"][0]["message"]

    # private orbs resolve for members of their organization (here with --org-id) and nobody else
    private_use = "version: 2.1\norbs:\n  s: acme/secret@dev:main\n"
    mine = (await world.dev.run(cli.VALIDATE_ORB, config=private_use, owner=world.acme_id))["orbConfig"]
    assert mine["valid"] is True, mine["errors"]
    theirs = (await world.eve.run(cli.VALIDATE_ORB, config=private_use))["orbConfig"]
    assert theirs["errors"] == [{"message": "orb.yml:3:3 at orbs.s: Orb acme/secret does not exist or is private."}]


async def test_unlist_and_categories(world: World) -> None:
    await published_acme(world)
    orb_id = await world.dev.orb_id("acme", "tools")
    unlisted = await world.dev.mutate(cli.SET_ORB_LIST_STATUS, "setOrbListStatus", orbId=orb_id, list=False)
    assert unlisted == {"listed": False, "errors": []}
    assert await world.eve.list_orbs() == []
    # still there for whoever names it, and in its namespace's listing
    assert await world.eve.orb_source("acme/tools@0.0.1") == TOOLS
    assert [o["name"] for o in await world.eve.list_namespace_orbs("acme", False, False)] == ["acme/tools"]
    with pytest.raises(GraphQLFailed, match="You may not change orbs in the acme namespace"):
        await world.eve.mutate(cli.SET_ORB_LIST_STATUS, "setOrbListStatus", orbId=orb_id, list=True)
    await world.dev.mutate(cli.SET_ORB_LIST_STATUS, "setOrbListStatus", orbId=orb_id, list=True)
    assert [o["name"] for o in await world.eve.list_orbs()] == ["acme/tools"]

    categories = await world.eve.list_categories()
    assert len(categories) == 15 and {"Testing", "Deployment", "Kubernetes"} <= {c["name"] for c in categories}
    testing = (await world.dev.run(cli.ORB_CATEGORY_ID, name="Testing"))["orbCategoryByName"]["id"]
    assert testing == next(c["id"] for c in categories if c["name"] == "Testing")
    assert (await world.dev.run(cli.ORB_CATEGORY_ID, name="Knitting"))["orbCategoryByName"] is None
    add = cli.ORB_CATEGORIZATION % "addCategorizationToOrb"
    added = await world.dev.mutate(add, "addCategorizationToOrb", orbId=orb_id, categoryId=testing)
    assert added == {"orbId": orb_id, "categoryId": testing, "errors": []}
    info = await world.eve.orb_info("acme/tools")
    assert info is not None and info["orb"]["categories"] == [{"id": testing, "name": "Testing"}]
    remove = cli.ORB_CATEGORIZATION % "removeCategorizationFromOrb"
    await world.dev.mutate(remove, "removeCategorizationFromOrb", orbId=orb_id, categoryId=testing)
    info = await world.eve.orb_info("acme/tools")
    assert info is not None and info["orb"]["categories"] == []
    with pytest.raises(GraphQLFailed, match="You may not change orbs"):
        await world.eve.mutate(add, "addCategorizationToOrb", orbId=orb_id, categoryId=testing)


async def test_private_orbs_are_seen_only_by_members(world: World) -> None:
    await published_acme(world)
    secret_ref = "acme/secret@dev:main"
    # members (and administrators) see the private orb everywhere
    for member in (world.dev, world.admin):
        assert await member.orb_source(secret_ref) == SECRET
        exists = await member.run(cli.ORB_EXISTS, name="acme/secret", namespace="acme")
        assert exists["orb"]["isPrivate"] is True
        private = await member.list_namespace_orbs("acme", private=True, details=False)
        assert [o["name"] for o in private] == ["acme/secret"]
    # someone else does not: not in any listing, not by name, not through REST
    assert await world.eve.orb_source(secret_ref) is None
    assert await world.eve.orb_info(secret_ref) is None
    assert (await world.eve.run(cli.ORB_EXISTS, name="acme/secret", namespace="acme"))["orb"] is None
    assert await world.eve.list_namespace_orbs("acme", private=True, details=True) == []
    assert [o["name"] for o in await world.eve.list_orbs(uncertified=True)] == ["acme/tools"]
    assert [o["name"] for o in await world.dev.list_orbs()] == ["acme/tools"]  # never in the public list
    with pytest.raises(GraphQLFailed, match="create it with `circleci orb create`"):
        await publish(world.eve, SECRET, "acme/secret@dev:eve")
    rest = (await world.http.get("/api/v2/orbs", headers=world.rest(world.eve))).json()["items"]
    assert [o["name"] for o in rest] == ["acme/tools"]
    resp = await world.http.get("/api/v2/orbs/acme/secret/dev:main", headers=world.rest(world.eve))
    assert resp.status_code == 404
    resp = await world.http.get("/api/v2/orbs/acme/secret/dev:main", headers=world.rest(world.dev))
    assert resp.status_code == 200 and resp.json()["source"] == SECRET

    # once gh/acme lists eve too, she sees it; /me/collaborations follows the same list
    collaborations = await world.http.get("/api/v2/me/collaborations", headers=world.rest(world.eve))
    assert [o["slug"] for o in collaborations.json()] == ["gh/other"]
    admin_rest = {"Circle-Token": world.admin_token}
    assert (await world.http.put(f"/api/v2/organizations/{world.acme_id}/members/eve", headers=admin_rest)).is_success
    assert await world.eve.orb_source(secret_ref) == SECRET
    collaborations = await world.http.get("/api/v2/me/collaborations", headers=world.rest(world.eve))
    assert [o["slug"] for o in collaborations.json()] == ["gh/acme", "gh/other"]
    members = (await world.http.get(f"/api/v2/organizations/{world.acme_id}/members", headers=admin_rest)).json()
    assert ([m["login"] for m in members["items"]], members["open"]) == (["dev", "eve"], False)
    refused = await world.http.put(f"/api/v2/organizations/{world.acme_id}/members/eve", headers=world.rest(world.dev))
    assert refused.status_code == 403


async def test_admin_import_orb_writes(world: World) -> None:
    """`circleci admin import-orb circleci/node@5.0.2`: it reads circleci.com, then plans and writes here."""
    node = NODE.read_text()
    # the plan: the namespace, orb and version do not exist yet
    assert not ((await world.admin.run(cli.NAMESPACE_EXISTS, name="circleci"))["registryNamespace"] or {}).get("id")
    planned = await world.admin.run(cli.ORB_EXISTS, name="circleci/node", namespace="circleci")
    assert planned == {"orb": None, "registryNamespace": None}
    assert await world.admin.orb_info("circleci/node@5.0.2") is None

    imported = await world.admin.mutate(cli.IMPORT_NAMESPACE, "importNamespace", name="circleci")
    namespace_id = await world.admin.namespace_id("circleci")
    assert imported["namespace"]["id"] == namespace_id
    payload = await world.admin.mutate(cli.IMPORT_ORB, "importOrb", name="node", registryNamespaceId=namespace_id)
    orb_id = await world.admin.orb_id("circleci", "node")
    assert payload["orb"]["id"] == orb_id
    version = await world.admin.mutate(
        cli.IMPORT_ORB_VERSION, "importOrbVersion", config=node, orbId=orb_id, version="5.0.2"
    )
    assert version["orb"] == {"version": "5.0.2"}

    # a second run finds everything in place; importing the same release again is refused
    info = await world.admin.orb_info("circleci/node@5.0.2")
    assert info is not None and info["source"] == node
    with pytest.raises(GraphQLFailed, match="already published"):
        await world.admin.mutate(cli.IMPORT_ORB_VERSION, "importOrbVersion", config=node, orbId=orb_id, version="5.0.2")
    with pytest.raises(GraphQLFailed, match="Namespace already exists"):
        await world.admin.mutate(cli.IMPORT_NAMESPACE, "importNamespace", name="circleci")
    # imports are for administrators; an imported namespace belongs to no organization
    with pytest.raises(GraphQLFailed, match="Only administrators import namespaces"):
        await world.dev.mutate(cli.IMPORT_NAMESPACE, "importNamespace", name="mine")
    with pytest.raises(GraphQLFailed, match="Only administrators import orbs"):
        await world.dev.mutate(cli.IMPORT_ORB, "importOrb", name="x", registryNamespaceId=namespace_id)
    with pytest.raises(GraphQLFailed, match="You may not publish to the circleci namespace"):
        await publish(world.dev, TOOLS, "circleci/node@dev:mine")
    assert [o["name"] for o in await world.eve.list_orbs()] == ["circleci/node"]


async def test_pipelines_compile_with_published_orbs(world: World) -> None:
    """The compiler reads the registry; a private orb serves only its own organization's pipelines."""
    await published_acme(world)
    admin_rest = {"Circle-Token": world.admin_token}

    async def pipeline(org: str, config: str) -> dict[str, Any]:
        commit_files(world.repos[org], {".circleci/config.yml": config}, "use orbs")
        resp = await world.http.post(f"/api/v2/project/gh/{org}/app/pipeline", json={}, headers=admin_rest)
        assert resp.status_code == 201, resp.text
        found = (await world.http.get(f"/api/v2/pipeline/{resp.json()['id']}", headers=admin_rest)).json()
        compiled = (await world.http.get(f"/api/v2/pipeline/{found['id']}/config", headers=admin_rest)).json()
        return {**found, "compiled": compiled["compiled"]}

    mine = await pipeline("acme", config_using("acme/tools@0.0", "acme/secret@dev:main"))
    assert mine["state"] != "errored", mine["errors"]
    assert "# Orb 'acme/tools@0.0' resolved to 'acme/tools@0.0.2'" in mine["compiled"]
    assert "echo hi there world" in mine["compiled"] and "acme's secret recipe" in mine["compiled"]

    theirs = await pipeline("other", config_using("acme/tools@0.0.1", "acme/secret@dev:main"))
    assert theirs["state"] == "errored"
    messages = [e["message"] for e in theirs["errors"]]
    assert messages[0] == ".circleci/config.yml:4:3 at orbs.o1: Orb acme/secret does not exist or is private."
    assert "no orb is imported as 'o1'" in messages[1]
    public_only = await pipeline("other", config_using("acme/tools@0.0.1"))
    assert public_only["state"] != "errored" and "echo hello world" in public_only["compiled"]


async def test_orb_list_pages_through_cursors(world: World) -> None:
    """More than a page (20) of orbs: the CLI follows `cursor` while `hasNextPage`."""
    admin_rest = {"Circle-Token": world.admin_token}
    names = [f"bulk/orb-{i:02d}" for i in range(45)]
    for name in names:
        resp = await world.http.post(
            f"/api/v2/orbs/{name}", json={"version": "1.0.0", "source": TOOLS}, headers=admin_rest
        )
        assert resp.status_code == 201, resp.text
    first = (await world.eve.run(cli.LIST_ORBS, after="", certifiedOnly=True))["orbs"]
    assert (first["totalCount"], len(first["edges"]), first["pageInfo"]) == (45, 20, {"hasNextPage": True})
    assert [o["name"] for o in await world.eve.list_orbs()] == names
    assert [o["name"] for o in await world.eve.list_namespace_orbs("bulk", False, True)] == names
    garbage = await world.eve.raw(cli.LIST_ORBS, after="not-a-cursor", certifiedOnly=True)
    assert "is not a cursor this server gave out" in garbage["errors"][0]["message"]


async def test_legacy_build_config(world: World) -> None:
    """`config process` against a server without the REST compile: ValidateConfig, its unused $orgSlug too."""
    await published_acme(world)
    config = config_using("acme/tools@0.0.1").replace("jobs: [build]", "jobs: [build]\n")
    query = cli.BUILD_CONFIG % ", pipelineParametersJson: $pipelineParametersJson"
    values = [{"key": "pipeline.number", "val": 7}, {"key": "pipeline.git.branch", "val": "main"}]
    data = await world.eve.run(query, config=config, next=False, pipelineValues=values, pipelineParametersJson="{}")
    built = data["buildConfig"]
    assert built["valid"] is True and "echo hello world" in built["outputYaml"]
    broken = await world.eve.run(cli.BUILD_CONFIG % "", config="version: 2.1\njobs: {}\n", next=False)
    assert broken["buildConfig"]["valid"] is False and broken["buildConfig"]["errors"]


async def test_bad_requests_are_answered_200_with_errors(world: World) -> None:
    anonymous = CircleCli(world.http, None)
    for client in (anonymous, CircleCli(world.http, "not-a-token")):
        body = await client.raw(cli.LIST_ORBS, after="", certifiedOnly=True)
        assert body["data"] is None and "must log in" in body["errors"][0]["message"]
    # every form of the token works, as on the REST API
    for headers in ({"Circle-Token": world.admin_token}, {"Authorization": f"Bearer {world.admin_token}"}):
        resp = await world.http.post(
            "/graphql-unstable", json={"query": '{ orbCategoryByName(name: "Build") { name } }'}, headers=headers
        )
        assert resp.json() == {"data": {"orbCategoryByName": {"name": "Build"}}}

    unknown = await world.dev.raw("query { orbs { totalCount nope } }")
    assert unknown["data"] is None
    assert unknown["errors"][0]["message"] == "Cannot query field 'nope' on type 'OrbConnection'."
    assert unknown["errors"][0]["locations"] == [{"line": 1, "column": 27}]
    syntax = await world.dev.raw("query { orbs(first: ) }")
    assert syntax["errors"][0]["message"].startswith("Syntax Error:")
    enum = await world.dev.raw(cli.ORGANIZATION_BY_NAME, orgName="acme", vcsType="GRUBHUB")
    assert "GRUBHUB" in enum["errors"][0]["message"] and "VCSType" in enum["errors"][0]["message"]
    not_uuid = await world.dev.raw(cli.CREATE_NAMESPACE, name="x", organizationId="nope")
    assert "'nope' is not a UUID" in not_uuid["errors"][0]["message"]
    too_many = await world.dev.raw("{ orbs(first: 500) { totalCount } }")
    assert too_many["errors"][0]["message"] == "`first` must be between 0 and 100, not 500"
    # documents that would make the server walk far: too deep, or too many fields once lists multiply
    one = "versions(count: 1) { orb { "
    deep = "{ orbs(first: 1) { edges { node { " + one * 4 + "namespace { name }" + " } }" * 4 + " } } } }"
    nested = await world.dev.raw(deep)
    assert nested["errors"][0]["message"] == "The query nests 13 fields deep; at most 12 are allowed."
    wide = "{ orbs { edges { node { versions { orb { versions { orb { name } } } } } } } }"
    costly = await world.dev.raw(wide)
    assert costly["data"] is None and "may return more than 20000 fields" in costly["errors"][0]["message"]

    for raw_body in (
        b"",
        b"not json",
        b"[1, 2]",
        b'{"query": 7}',
        b'{"query": "{ orbs { totalCount } }", "variables": 3}',
    ):
        resp = await world.http.post("/graphql-unstable", content=raw_body, headers=world.rest(world.dev))
        assert resp.status_code == 200 and resp.json()["data"] is None and resp.json()["errors"][0]["message"]
    get = await world.http.get("/graphql-unstable", headers=world.rest(world.dev))
    assert get.status_code == 405
