"""POST /api/v2/compile-config-with-defaults on the real app, with orbs from the private registry."""

from __future__ import annotations

import yaml

from tests.conftest import SHARED
from tests.server.conftest import Clients

ORACLE = SHARED / "corpus" / "oracles" / "config-process"
PATH = "/api/v2/compile-config-with-defaults"


async def test_the_empty_body_probe_is_a_400_not_a_404(clients: Clients) -> None:
    response = await clients.admin.post(PATH, content=b"")
    assert response.status_code == 400
    assert "config_yaml" in response.json()["message"]


async def test_needs_a_token(clients: Clients) -> None:
    response = await clients.anonymous.post(PATH, json={"config_yaml": "version: 2.1\n"})
    assert response.status_code == 401


async def test_compiles_with_orbs_from_the_registry_like_circleci(clients: Clients) -> None:
    source = (ORACLE / "orb-circleci-node@4.7.0.packed.yml").read_text()
    published = await clients.admin.post("/api/v2/orbs/circleci/node", json={"version": "4.7.0", "source": source})
    assert published.status_code == 201, published.text
    text = (ORACLE / "node-orb-4.7.0-test.input.yml").read_text()
    body = (await clients.developer.post(PATH, json={"config_yaml": text})).json()
    assert body["valid"] is True and body["errors"] == []
    assert body["source-yaml"] == text
    expected = yaml.safe_load((ORACLE / "node-orb-4.7.0-test.expected.yml").read_text())
    assert yaml.safe_load(body["output-yaml"]) == expected


async def test_an_invalid_config_answers_200_with_every_error(clients: Clients) -> None:
    text = (
        "version: 2.1\norbs:\n  nope: acme/missing@1.0.0\njobs:\n  build:\n    docker: [{image: x}]\n"
        "    steps:\n      - run: echo << parameters.x >>\n"
    )
    response = await clients.developer.post(
        PATH, json={"config_yaml": text, "options": {"pipeline_parameters": {"p": 1}}}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["valid"] is False and body["output-yaml"] == ""
    messages = "\n".join(e["message"] for e in body["errors"])
    assert "Orb acme/missing does not exist or is private" in messages
    assert "Unexpected argument(s): p" in messages
    assert ":8:9 at jobs.build.steps[0]: Arguments referenced without declared parameters: parameters.x" in messages
