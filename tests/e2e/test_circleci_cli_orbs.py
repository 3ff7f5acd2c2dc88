"""`rondo server` as `make run` starts it, driven over real HTTP the way the `circleci` CLI drives it:
`admin import-orb` writes, `orb list`, `orb source`, `orb validate`, with the token raw in `Authorization`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from tests.conftest import SHARED
from tests.e2e.server_process import RondoServer
from tests.server import cli_graphql as cli
from tests.server.cli_graphql import CircleCli, GraphQLFailed

pytestmark = pytest.mark.e2e

NODE = SHARED / "corpus" / "orbs" / "circleci" / "node@5.0.2.yml"


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[RondoServer]:
    srv = RondoServer(tmp_path / "data", database_url, RONDO_BUILTIN_AGENT="false").start()
    try:
        yield srv
    finally:
        srv.stop()


async def test_import_then_read_through_the_cli_documents(server: RondoServer) -> None:
    source = NODE.read_text()
    async with httpx2.AsyncClient(base_url=server.url, timeout=60) as http:
        admin = CircleCli(http, server.token, command="admin import-orb")
        with pytest.raises(GraphQLFailed, match="must log in"):
            await CircleCli(http, "wrong").run(cli.NAMESPACE_EXISTS, name="circleci")

        await admin.mutate(cli.IMPORT_NAMESPACE, "importNamespace", name="circleci")
        namespace_id = await admin.namespace_id("circleci")
        await admin.mutate(cli.IMPORT_ORB, "importOrb", name="node", registryNamespaceId=namespace_id)
        orb_id = await admin.orb_id("circleci", "node")
        imported = await admin.mutate(
            cli.IMPORT_ORB_VERSION, "importOrbVersion", config=source, orbId=orb_id, version="5.0.2"
        )
        assert imported["orb"] == {"version": "5.0.2"}

        reader = CircleCli(http, server.token, command="orb list")
        listed = await reader.list_orbs()
        assert [(o["name"], o["versions"][0]["version"]) for o in listed] == [("circleci/node", "5.0.2")]
        assert await reader.orb_source("circleci/node") == source
        checked = (await reader.run(cli.VALIDATE_ORB, config=source))["orbConfig"]
        assert checked["valid"] is True and checked["errors"] == []
    # the REST API and `rondo orb` see the same registry
    with server.client() as rest:
        assert rest.get("/api/v2/orbs/circleci/node").json()["versions"] == ["5.0.2"]
