"""/api/v2/orbs on the real app (in process, real database): reading, publishing, who may publish."""

from __future__ import annotations

import httpx2

from tests.conftest import SHARED
from tests.server.conftest import Clients

NODE = SHARED / "corpus" / "orbs" / "circleci"


def node(version: str) -> str:
    return (NODE / f"node@{version}.yml").read_text()


async def publish(api: httpx2.AsyncClient, version: str, source: str) -> httpx2.Response:
    return await api.post("/api/v2/orbs/circleci/node", json={"version": version, "source": source})


async def test_publish_list_and_read(clients: Clients) -> None:
    for version in ("5.0.0", "5.0.2", "7.2.1"):
        resp = await publish(clients.admin, version, node(version))
        assert resp.status_code == 201, resp.text
    body = resp.json()
    assert (body["name"], body["version"], body["source"]) == ("circleci/node", "7.2.1", node("7.2.1"))
    assert len(body["digest"]) == 64 and body["created_at"].endswith("Z")
    assert (await publish(clients.admin, "dev:alpha", node("5.0.0"))).status_code == 201

    listed = (await clients.developer.get("/api/v2/orbs")).json()
    assert listed == {
        "items": [
            {
                "name": "circleci/node",
                "versions": ["5.0.0", "5.0.2", "7.2.1", "dev:alpha"],
                "latest": "7.2.1",
                "private": False,
                "listed": True,
            }
        ],
        "next_page_token": None,
    }
    one = await clients.developer.get("/api/v2/orbs/circleci/node")
    assert one.status_code == 200 and one.json() == listed["items"][0]

    for wanted, resolved in (("5", "5.0.2"), ("5.0.0", "5.0.0"), ("volatile", "7.2.1"), ("dev:alpha", "dev:alpha")):
        resp = await clients.developer.get(f"/api/v2/orbs/circleci/node/{wanted}")
        assert resp.status_code == 200, resp.text
        assert resp.json()["version"] == resolved
    assert (await clients.developer.get("/api/v2/orbs/circleci/node/5")).json()["source"] == node("5.0.2")


async def test_not_found_answers_in_the_registry_words(clients: Clients) -> None:
    assert (await publish(clients.admin, "5.0.0", node("5.0.0"))).status_code == 201
    cases = {
        "/api/v2/orbs/circleci/nope": "Orb circleci/nope does not exist or is private.",
        "/api/v2/orbs/circleci/nope/1.0.0": "Orb circleci/nope does not exist or is private.",
        "/api/v2/orbs/circleci/node/6": "Unknown version 6 for orb circleci/node",
        "/api/v2/orbs/circleci/node/dev:beta": "Unknown version dev:beta for orb circleci/node",
    }
    for path, message in cases.items():
        resp = await clients.admin.get(path)
        assert (resp.status_code, resp.json()) == (404, {"message": message}), path


async def test_publishing_is_checked(clients: Clients) -> None:
    assert (await publish(clients.admin, "5.0.0", node("5.0.0"))).status_code == 201

    again = await publish(clients.admin, "5.0.0", node("5.0.2"))
    assert again.status_code == 409
    assert "already published" in again.json()["message"]

    ranged = await publish(clients.admin, "5", node("5.0.0"))
    assert ranged.status_code == 400 and "not exact" in ranged.json()["message"]

    not_an_orb = await publish(clients.admin, "6.0.0", "version: 2.1\nworkflows: {}\n")
    assert not_an_orb.status_code == 400
    assert "unknown top-level keys workflows" in not_an_orb.json()["message"]

    bad_name = await clients.admin.post("/api/v2/orbs/CircleCI/node", json={"version": "1.0.0", "source": "x: 1"})
    assert bad_name.status_code == 400 and "namespace/name@version" in bad_name.json()["message"]

    assert (await clients.admin.get("/api/v2/orbs/circleci/node")).json()["versions"] == ["5.0.0"]


async def test_only_admins_publish_and_only_users_read(clients: Clients) -> None:
    denied = await publish(clients.developer, "5.0.0", node("5.0.0"))
    assert (denied.status_code, denied.json()) == (403, {"message": "Only administrators can do this."})

    for path in ("/api/v2/orbs", "/api/v2/orbs/circleci/node", "/api/v2/orbs/circleci/node/5"):
        resp = await clients.anonymous.get(path)
        assert (resp.status_code, resp.json()) == (401, {"message": "You must log in first."}), path
    assert (await publish(clients.anonymous, "5.0.0", node("5.0.0"))).status_code == 401
    assert (await clients.admin.get("/api/v2/orbs")).json()["items"] == []
