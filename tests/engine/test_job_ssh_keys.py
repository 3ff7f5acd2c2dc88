"""Which jobs get which SSH keys: the checkout key for a `checkout` of an SSH repository, the additional keys
for `add_ssh_keys`, none for anything else. Sealed while queued, opened only in the claimed task's spec."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2
import pytest

from rondo.domain.ssh_keys import secret_fragments
from rondo.secrets.ssh_keys import generate_ed25519, read_private_key
from tests.conftest import commit_files, git, make_repo
from tests.engine.harness import InProcessServer, wait_for
from tests.engine.test_job_secrets import ok
from tests.plaintext import database_text, private_key_parts
from tests.sshd import SshServer

CONFIG = """\
version: 2.1
jobs:
  checks-out:
    machine: true
    steps: [checkout]
  adds-keys:
    machine: true
    steps: [{add_ssh_keys: {fingerprints: ["%s"]}}]
  plain:
    machine: true
    steps: [{run: echo hi}]
workflows:
  main:
    jobs: [checks-out, adds-keys, plain]
"""

EXTRA = generate_ed25519()


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[InProcessServer]:
    with InProcessServer(tmp_path / "data", database_url, ref_poll_interval_s=0.3) as srv:
        yield srv


async def queued_jobs(api: Any, slug: str, number: int) -> bool:
    items = (await api.get(f"/api/v2/project/{slug}/pipeline")).json()["items"]
    mine = [p for p in items if p["number"] == number]
    if not mine:
        return False
    wfs = (await api.get(f"/api/v2/pipeline/{mine[0]['id']}/workflow")).json()["items"]
    if not wfs:
        return False
    jobs = (await api.get(f"/api/v2/workflow/{wfs[0]['id']}/job")).json()["items"]
    return len(jobs) == 3 and all(j["status"] == "queued" for j in jobs)


async def test_jobs_get_the_keys_their_steps_need(
    server: InProcessServer, sshd: SshServer, tmp_path: Path, database_url: str
) -> None:
    work = make_repo(tmp_path / "work", {".circleci/config.yml": CONFIG % EXTRA.sha256_fingerprint})
    bare = tmp_path / "git" / "app.git"
    bare.parent.mkdir()
    git(tmp_path, "clone", "-q", "--bare", str(work), str(bare))
    async with server.api() as api:
        followed = await ok(await api.post("/api/v2/project/gh/acme/app", json={"vcs_url": sshd.url(bare)}), 201)
        deploy = followed["checkout_key"]
        extra = {"hostname": "deploy.example.com", "private_key": EXTRA.private_key}
        await ok(await api.post("/api/v1.1/project/gh/acme/app/ssh-key", json=extra))
        sshd.authorize(deploy["public-key"])  # the server reads the repository now, and builds main
        await wait_for(lambda: queued_jobs(api, "gh/acme/app", 1), what="the first pipeline's jobs to be queued")

        # A repository the server reads by path: its checkouts need no key, even when the project has one.
        local = make_repo(tmp_path / "local", {"README.md": "# local\n"})
        await ok(await api.post("/api/v2/project/gh/acme/local", json={"vcs_url": str(local)}), 201)
        await ok(await api.post("/api/v2/project/gh/acme/local/checkout-key", json={"type": "deploy-key"}), 201)
        commit_files(local, {".circleci/config.yml": CONFIG % EXTRA.sha256_fingerprint}, "add config")
        await ok(await api.post("/api/v2/project/gh/acme/local/pipeline", json={"branch": "main"}), 201)
        await wait_for(lambda: queued_jobs(api, "gh/acme/local", 2), what="the local project's jobs to be queued")

        stored = database_text(database_url)
        specs = await claim_all_of(server)
    checkout_key = specs[("app", "checks-out")]["checkout_key"]
    assert checkout_key["fingerprint"] == deploy["fingerprint"] and checkout_key["hostname"] == ""
    assert specs[("app", "checks-out")]["ssh_keys"] == []
    keys = specs[("app", "adds-keys")]["ssh_keys"]
    assert [(k["hostname"], k["sha256_fingerprint"]) for k in keys] == [
        ("deploy.example.com", EXTRA.sha256_fingerprint)
    ]
    assert read_private_key(keys[0]["private_key"]).public_key == EXTRA.public_key
    assert specs[("app", "adds-keys")]["checkout_key"] is None
    assert (specs[("app", "plain")]["checkout_key"], specs[("app", "plain")]["ssh_keys"]) == (None, [])
    assert specs[("local", "checks-out")]["checkout_key"] is None
    # Every private line is masked in the job's output; none was in the database while the tasks were queued.
    private = [checkout_key["private_key"], keys[0]["private_key"]]
    for key in [*private, EXTRA.private_key]:
        for fragment in private_key_parts(key):
            assert fragment not in stored
    assert set(secret_fragments(private[0])) <= set(specs[("app", "checks-out")]["secret_values"])
    assert set(secret_fragments(private[1])) <= set(specs[("app", "adds-keys")]["secret_values"])
    assert not set(secret_fragments(private[1])) & set(specs[("app", "checks-out")]["secret_values"])


async def claim_all_of(server: InProcessServer) -> dict[tuple[str, str], dict[str, Any]]:
    """Claim every queued task as an agent does (and finish it), keyed by (repository, job name)."""
    headers = {"Authorization": f"Bearer {server.agent_token}"}
    async with httpx2.AsyncClient(base_url=server.url, headers=headers) as agent_api:
        agent = await ok(await agent_api.post("/agent/v1/register", json={"name": "probe", "executors": ["machine"]}))
        specs: dict[tuple[str, str], dict[str, Any]] = {}
        while True:
            resp = await agent_api.post("/agent/v1/claim", json={"agent_id": agent["agent_id"], "wait_s": 1})
            if resp.status_code == 204:
                return specs
            spec = await ok(resp)
            specs[(spec["project_slug"].rsplit("/", 1)[1], spec["job_name"])] = spec
            done = {"type": "task_finished", "status": "success", "at": datetime.now(UTC).isoformat()}
            batch = {"agent_id": agent["agent_id"], "seq": 1, "events": [done]}
            await ok(await agent_api.post(f"/agent/v1/tasks/{spec['id']}/events", json=batch))
