"""Project env vars (v2 and v1.1), contexts, restrictions and groups on the real app (in process, real DB).

Values go in, only masked forms come out, and no value is stored in clear in any table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.plaintext import database_text
from tests.server.conftest import ONE_MACHINE_JOB as CONFIG
from tests.server.conftest import Clients

SECRET = "prj-secret-value-1234"
CTX_SECRET = "ctx-secret-value-5678"


@dataclass
class Api:
    admin: httpx2.AsyncClient
    dev: httpx2.AsyncClient  # a user who is not an administrator
    anonymous: httpx2.AsyncClient
    database_url: str
    project: dict[str, Any]


@pytest.fixture
async def api(clients: Clients, tmp_path: Path, database_url: str) -> Api:
    project = await clients.follow(tmp_path / "repo", {".circleci/config.yml": CONFIG})
    return Api(clients.admin, clients.developer, clients.anonymous, database_url, project)


async def test_project_env_vars_in_v2_show_only_masked_values(api: Api) -> None:
    created = await api.dev.post("/api/v2/project/gh/acme/app/envvar", json={"name": "DEPLOY_TOKEN", "value": SECRET})
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["name"], body["value"]) == ("DEPLOY_TOKEN", "xxxx1234")
    assert body["created-at"].endswith("Z")
    short = await api.dev.post("/api/v2/project/github/acme/app/envvar", json={"name": "PIN", "value": "123"})
    assert short.json()["value"] == "xxxx"

    listed = (await api.dev.get("/api/v2/project/github/acme/app/envvar")).json()
    assert listed["next_page_token"] is None
    assert [(v["name"], v["value"]) for v in listed["items"]] == [("DEPLOY_TOKEN", "xxxx1234"), ("PIN", "xxxx")]
    one = await api.dev.get("/api/v2/project/gh%2Facme%2Fapp/envvar/DEPLOY_TOKEN")
    assert one.status_code == 200 and one.json()["value"] == "xxxx1234"

    replaced = await api.dev.post("/api/v2/project/gh/acme/app/envvar", json={"name": "PIN", "value": "new-pin-9999"})
    assert replaced.json()["value"] == "xxxx9999"
    assert len((await api.dev.get("/api/v2/project/gh/acme/app/envvar")).json()["items"]) == 2

    deleted = await api.dev.delete("/api/v2/project/gh/acme/app/envvar/PIN")
    assert (deleted.status_code, deleted.json()) == (200, {"message": "Environment variable deleted."})
    gone = await api.dev.get("/api/v2/project/gh/acme/app/envvar/PIN")
    assert (gone.status_code, gone.json()) == (404, {"message": "Environment variable not found."})
    assert (await api.dev.delete("/api/v2/project/gh/acme/app/envvar/PIN")).status_code == 404

    bad = await api.dev.post("/api/v2/project/gh/acme/app/envvar", json={"name": "1BAD-NAME", "value": "x"})
    assert bad.status_code == 400 and "not a valid environment variable name" in bad.json()["message"]
    nobody = await api.anonymous.get("/api/v2/project/gh/acme/app/envvar")
    assert nobody.status_code == 401
    unknown = await api.dev.get("/api/v2/project/gh/acme/nope/envvar")
    assert (unknown.status_code, unknown.json()) == (404, {"message": "Project not found"})
    assert SECRET not in database_text(api.database_url)


async def test_project_env_vars_in_v1_1_are_bare_arrays(api: Api) -> None:
    added = await api.dev.post("/api/v1.1/project/github/acme/app/envvar", json={"name": "SECRET", "value": SECRET})
    assert added.status_code == 201 and added.json() == {"name": "SECRET", "value": "xxxx1234"}
    assert (await api.dev.get("/api/v1.1/project/github/acme/app/envvar")).json() == [
        {"name": "SECRET", "value": "xxxx1234"}
    ]
    assert (await api.dev.get("/api/v1.1/project/github/acme/app/envvar/SECRET")).json()["value"] == "xxxx1234"
    deleted = await api.dev.delete("/api/v1.1/project/github/acme/app/envvar/SECRET")
    assert deleted.json() == {"message": "ok"}
    assert (await api.dev.get("/api/v1.1/project/github/acme/app/envvar")).json() == []


async def test_contexts_and_their_variables_never_return_values(api: Api) -> None:
    org_id = api.project["organization_id"]
    created = await api.dev.post("/api/v2/context", json={"name": "org-global", "owner": {"slug": "github/acme"}})
    assert created.status_code == 200, created.text
    ctx = created.json()
    assert set(ctx) == {"id", "name", "created_at"} and ctx["name"] == "org-global"
    dup = await api.dev.post("/api/v2/context", json={"name": "org-global", "owner": {"id": org_id}})
    assert dup.status_code == 409

    for params in ({"owner-slug": "gh/acme"}, {"owner-id": org_id, "owner-type": "organization"}):
        listed = (await api.dev.get("/api/v2/context", params=params)).json()
        assert listed == {"items": [ctx], "next_page_token": None}
    assert (await api.dev.get("/api/v2/context", params={"owner-slug": "gh/elsewhere"})).json()["items"] == []
    assert (await api.dev.get("/api/v2/context")).status_code == 400

    put = await api.dev.put(f"/api/v2/context/{ctx['id']}/environment-variable/AWS_KEY", json={"value": CTX_SECRET})
    assert put.status_code == 200, put.text
    assert set(put.json()) == {"variable", "context_id", "created_at", "updated_at"}
    listed_vars = (await api.dev.get(f"/api/v2/context/{ctx['id']}/environment-variable")).json()
    assert [v["variable"] for v in listed_vars["items"]] == ["AWS_KEY"]
    assert CTX_SECRET not in str(listed_vars) and "5678" not in str(listed_vars)
    assert CTX_SECRET not in database_text(api.database_url)

    assert (await api.dev.get(f"/api/v2/context/{ctx['id']}")).json() == ctx
    removed = await api.dev.delete(f"/api/v2/context/{ctx['id']}/environment-variable/AWS_KEY")
    assert removed.json() == {"message": "Environment variable deleted."}
    deleted = await api.dev.delete(f"/api/v2/context/{ctx['id']}")
    assert (deleted.status_code, deleted.json()) == (200, {"message": "Context deleted."})
    missing = await api.dev.get(f"/api/v2/context/{ctx['id']}")
    assert (missing.status_code, missing.json()) == (404, {"message": "context not found"})
    assert (await api.dev.get("/api/v2/context/not-a-uuid")).status_code == 404


async def test_restricted_contexts_are_changed_only_by_their_groups(api: Api) -> None:
    org_id = api.project["organization_id"]
    ctx = (await api.admin.post("/api/v2/context", json={"name": "prod", "owner": {"id": org_id}})).json()
    group = await api.admin.post(f"/api/v2/organizations/{org_id}/groups", json={"name": "deployers"})
    assert group.status_code == 201, group.text
    gid = group.json()["id"]
    assert (await api.dev.post(f"/api/v2/organizations/{org_id}/groups", json={"name": "x"})).status_code == 403

    denied = await api.dev.post(
        f"/api/v2/context/{ctx['id']}/restrictions", json={"restriction_type": "group", "restriction_value": gid}
    )
    assert denied.status_code == 403
    made = await api.admin.post(
        f"/api/v2/context/{ctx['id']}/restrictions", json={"restriction_type": "group", "restriction_value": gid}
    )
    assert made.status_code == 201, made.text
    assert made.json()["name"] == "deployers"
    listed = (await api.dev.get(f"/api/v2/context/{ctx['id']}/restrictions")).json()["items"]
    assert [(r["restriction_type"], r["restriction_value"]) for r in listed] == [("group", gid)]
    expression = await api.admin.post(
        f"/api/v2/context/{ctx['id']}/restrictions",
        json={"restriction_type": "expression", "restriction_value": 'pipeline.git.branch == "main"'},
    )
    assert expression.status_code == 400

    path = f"/api/v2/context/{ctx['id']}/environment-variable/DEPLOY_KEY"
    refused = await api.dev.put(path, json={"value": CTX_SECRET})
    assert refused.status_code == 403 and "restricted" in refused.json()["message"]
    added = await api.admin.put(f"/api/v2/organizations/{org_id}/groups/{gid}/members/dev")
    assert added.status_code == 200, added.text
    members = (await api.dev.get(f"/api/v2/organizations/{org_id}/groups/{gid}/members")).json()["items"]
    assert [m["login"] for m in members] == ["dev"]
    assert (await api.dev.put(path, json={"value": CTX_SECRET})).status_code == 200

    removal = await api.admin.delete(f"/api/v2/context/{ctx['id']}/restrictions/{listed[0]['id']}")
    assert removal.status_code == 200
    assert (await api.dev.get(f"/api/v2/context/{ctx['id']}/restrictions")).json()["items"] == []
    groups = (await api.dev.get(f"/api/v2/organizations/{org_id}/groups")).json()
    assert [g["name"] for g in groups["items"]] == ["deployers"] and groups["total_count"] == 1
    assert (await api.admin.delete(f"/api/v2/organizations/{org_id}/groups/{gid}")).json() == {
        "message": "Group deleted."
    }


async def test_advanced_project_settings(api: Api) -> None:
    current = (await api.dev.get("/api/v2/project/gh/acme/app/settings")).json()["advanced"]
    assert current["build_fork_prs"] is False
    changed = await api.dev.patch(
        "/api/v2/project/gh/acme/app/settings", json={"advanced": {"build_fork_prs": True, "oss": True}}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["advanced"]["build_fork_prs"] is True
    again = (await api.dev.get("/api/v2/project/gh/acme/app/settings")).json()["advanced"]
    assert (again["build_fork_prs"], again["oss"], again["disable_ssh"]) == (True, True, False)
    unknown = await api.dev.patch("/api/v2/project/gh/acme/app/settings", json={"advanced": {"nope": True}})
    assert unknown.status_code == 400


async def test_the_project_settings_page_adds_and_deletes_variables_showing_them_masked(
    api: Api, database_url: str
) -> None:
    browser = api.anonymous
    token = (await api.admin.post("/api/v2/admin/users", json={"login": "web"})).json()["token"]
    assert (await browser.post("/login", data={"token": token})).status_code == 303
    home = await browser.get("/")
    assert 'href="/projects/gh/acme/app/settings"' in home.text
    page = await browser.get("/projects/gh/acme/app/settings")
    assert page.status_code == 200 and "No environment variables yet" in page.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    forged = await browser.post("/projects/gh/acme/app/settings/envvar", data={"csrf": "x", "name": "A", "value": "b"})
    assert forged.status_code == 403
    added = await browser.post(
        "/projects/gh/acme/app/settings/envvar", data={"csrf": csrf.group(1), "name": "WEB_TOKEN", "value": SECRET}
    )
    assert added.status_code == 303
    page = await browser.get("/projects/gh/acme/app/settings")
    assert "WEB_TOKEN" in page.text and "xxxx1234" in page.text and SECRET not in page.text
    invalid = await browser.post(
        "/projects/gh/acme/app/settings/envvar", data={"csrf": csrf.group(1), "name": "9", "value": "v"}
    )
    assert "not a valid environment variable name" in invalid.text
    deleted = await browser.post("/projects/gh/acme/app/settings/envvar/WEB_TOKEN/delete", data={"csrf": csrf.group(1)})
    assert deleted.status_code == 303
    again = await browser.post("/projects/gh/acme/app/settings/envvar/WEB_TOKEN/delete", data={"csrf": csrf.group(1)})
    assert again.status_code == 404  # a delete button's refusal is an error page, not a silent redirect
    assert "No environment variables yet" in (await browser.get("/projects/gh/acme/app/settings")).text
    assert (await browser.get("/admin/audit")).status_code == 403  # not an administrator
    assert SECRET not in database_text(database_url)


async def test_contexts_are_seen_only_by_those_who_work_in_their_organization(api: Api) -> None:
    org_id = api.project["organization_id"]
    ctx = (await api.admin.post("/api/v2/context", json={"name": "prod", "owner": {"id": org_id}})).json()
    listing = f"/api/v2/context?owner-id={org_id}"
    # An organization that lists no members is open to every user.
    assert [c["name"] for c in (await api.dev.get(listing)).json()["items"]] == ["prod"]

    assert (await api.admin.put(f"/api/v2/organizations/{org_id}/members/admin")).status_code == 200
    for path in (listing, f"/api/v2/context/{ctx['id']}", f"/api/v2/context/{ctx['id']}/environment-variable",
                 f"/api/v2/context/{ctx['id']}/restrictions"):  # fmt: skip
        assert (await api.dev.get(path)).status_code == 404, path
    put = await api.dev.put(f"/api/v2/context/{ctx['id']}/environment-variable/KEY", json={"value": CTX_SECRET})
    assert put.status_code == 404
    made = await api.dev.post("/api/v2/context", json={"name": "mine", "owner": {"id": org_id}})
    assert made.status_code == 404
    assert (await api.dev.delete(f"/api/v2/context/{ctx['id']}")).status_code == 404
    assert (await api.admin.get(listing)).json()["items"][0]["name"] == "prod"  # administrators work everywhere

    assert (await api.admin.put(f"/api/v2/organizations/{org_id}/members/dev")).status_code == 200
    assert [c["name"] for c in (await api.dev.get(listing)).json()["items"]] == ["prod"]
    assert (await api.dev.put(f"/api/v2/context/{ctx['id']}/environment-variable/KEY",
                              json={"value": CTX_SECRET})).status_code == 200  # fmt: skip
