"""SSH keys end to end: `rondo server` with its built-in agent, a repository behind a real sshd on loopback.

Following the `ssh://` repository makes a deploy key (the server cannot read it yet); a new deploy key
made through pycircleci 0.7.0 is authorized on the sshd, and the server reads the repository with it
and builds: the job checks out over SSH, uses `~/.ssh` for `git fetch` and `ssh`, and `add_ssh_keys`
installs an additional key for a host alias. Once the key is revoked, a pipeline errors with ssh's
reason. No private key appears in the job output (masked), the API's answers, the database, the data
dir's files or the server's log.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import httpx2
import pytest
from pycircleci.api import Api

from tests.conftest import commit_files, git, make_repo
from tests.e2e.server_process import RondoServer, wait_for
from tests.e2e.test_push_runs_jobs import (  # noqa: F401
    finished_workflow,
    jobs_by_name,
    pipeline_numbered,
    rondo_cli,
    server,
    step_output,
)
from tests.plaintext import database_text, places_holding, private_key_parts
from tests.sshd import SshServer

pytestmark = pytest.mark.e2e

CONFIG = """\
version: 2.1
jobs:
  build:
    machine: true
    steps:
      - checkout
      - run:
          name: git and ssh with the checkout key
          command: |
            git log -1 --format='log: %s'
            git fetch origin && echo fetched
            ssh -p {port} {user}@127.0.0.1 'echo hello from sshd'
            cat ~/.ssh/id_rsa
      - run:
          name: A host alias
          command: |
            printf 'Host sshd-alias\\n  HostName 127.0.0.1\\n  Port {port}\\n  User {user}\\n' >> ~/.ssh/config
            echo '  IdentitiesOnly yes' >> ~/.ssh/config
      - add_ssh_keys:
          fingerprints:
            - "{fingerprint}"
      - run:
          name: ssh to the alias
          command: ssh sshd-alias 'echo via the alias'
workflows:
  main:
    jobs: [build]
"""


def test_checkout_over_ssh_and_add_ssh_keys(server: RondoServer, sshd: SshServer, tmp_path: Path) -> None:  # noqa: F811
    extra_file = tmp_path / "extra"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-C", "", "-f", str(extra_file)], check=True
    )
    extra_private = extra_file.read_text()
    sshd.authorize((tmp_path / "extra.pub").read_text())
    extra_sha = subprocess.run(
        ["ssh-keygen", "-l", "-f", str(tmp_path / "extra.pub")], capture_output=True, text=True, check=True
    ).stdout.split()[1]

    work = make_repo(tmp_path / "work", {"README.md": "# app\n"})
    bare = tmp_path / "git" / "app.git"
    bare.parent.mkdir()
    git(tmp_path, "clone", "-q", "--bare", str(work), str(bare))
    git(work, "remote", "add", "origin", str(bare))
    config = CONFIG.format(port=sshd.port, user=sshd.user, fingerprint=extra_sha)
    commit_files(work, {".circleci/config.yml": config}, "add config")
    git(work, "push", "-q", "origin", "main")

    answers: list[str] = []
    followed = rondo_cli(server, "project", "add", sshd.url(bare), "--slug", "gh/acme/app")
    assert followed.returncode == 0, followed.stderr
    assert "cannot read" in followed.stdout and "deploy key" in followed.stdout
    assert "Could not read from remote repository" in followed.stdout  # git's reason

    c = Api(token=server.token, url=server.url + "/api")
    first = c.list_checkout_keys("acme", "app")
    assert [(k["type"], k["preferred"]) for k in first] == [("deploy-key", True)]
    made = c.create_checkout_key("acme", "app", "deploy-key")
    assert made["preferred"] is True and made["public_key"].startswith("ssh-ed25519 ")
    assert c.delete_checkout_key("acme", "app", first[0]["fingerprint"]) == {"message": "ok"}
    assert c.get_checkout_key("acme", "app", made["fingerprint"])["preferred"] is True
    added = c.add_ssh_key("acme", "app", extra_private, hostname="sshd-alias")
    assert added["hostname"] == "sshd-alias"
    answers += [repr(first), repr(made), repr(added)]
    sshd.authorize(made["public_key"])  # what the user does on the git host

    with server.client() as api:
        pipeline = wait_for(lambda: pipeline_numbered(api, 1), timeout=30, what="the first pipeline once readable")
        assert pipeline["vcs"]["branch"] == "main"
        wf = finished_workflow(api, pipeline["id"])
        build = jobs_by_name(api, wf["id"])["build"]
        out = step_output(api, build["job_number"])
        answers += list(out.values())
        assert wf["status"] == "success", out
        assert f"Using the project's checkout key {ssh_keygen_sha256(made['public_key'])}" in out["Checkout code"]
        assert "Permanently added" not in out["Checkout code"]  # the host key the server saw came with the job
        used = out["git and ssh with the checkout key"]
        assert "log: add config" in used and "fetched" in used and "hello from sshd" in used
        assert "********" in used  # the key printed, masked
        assert "via the alias" in out["ssh to the alias"]
        settings = api.get("/api/v1.1/project/github/acme/app/settings").json()
        assert [(k["hostname"], k["fingerprint"]) for k in settings["ssh_keys"]] == [
            ("sshd-alias", added["fingerprint"])
        ]
        answers += [
            repr(settings),
            api.get("/api/v2/admin/audit-log").text,
            api.get(f"/api/v1.1/project/github/acme/app/{build['job_number']}").text,
        ]

        # Without access, a pipeline errors with ssh's reason.
        sshd.revoke_all()
        triggered = api.post("/api/v2/project/gh/acme/app/pipeline", json={"branch": "main"})
        assert triggered.status_code == 201, triggered.text
        errored = api.get(f"/api/v2/pipeline/{triggered.json()['id']}").json()
        assert errored["state"] == "errored"
        assert "Permission denied (publickey)" in errored["errors"][0]["message"]

        # The private halves as stored (the jobs had these), and the additional key as pasted.
        keys: list[str] = [extra_private, *private_keys_of(server, api)]
    server.stop()

    db_url = server.env["RONDO_DATABASE_URL"] or f"sqlite+aiosqlite:///{server.data_dir / 'rondo.db'}"
    stored = database_text(db_url)
    for key in keys:
        for fragment in private_key_parts(key):
            assert not [a for a in answers if fragment in a]
            assert fragment not in stored
            assert places_holding(fragment, server.data_dir) == []
            assert fragment not in server.log()


def ssh_keygen_sha256(public_key: str) -> str:
    out = subprocess.run(["ssh-keygen", "-l", "-f", "-"], input=public_key, capture_output=True, text=True, check=True)
    return out.stdout.split()[1]


def private_keys_of(rondo: RondoServer, api: httpx2.Client) -> list[str]:
    """The private halves of the project's keys as stored (and as jobs get them), opened with the server's
    own keyring."""
    import asyncio

    from rondo.secrets.envelope import Sealed, SecretBox
    from rondo.secrets.keyring import LocalKeyring
    from rondo.secrets.ssh_keys import checkout_key_aad, ssh_key_aad
    from rondo.store import ssh_keys as key_q
    from rondo.store.db import Database

    project_id = api.get("/api/v2/project/gh/acme/app").json()["id"]
    db_url = rondo.env["RONDO_DATABASE_URL"] or f"sqlite+aiosqlite:///{rondo.data_dir / 'rondo.db'}"

    async def opened() -> list[str]:
        import uuid

        db = Database(db_url)
        box = SecretBox(LocalKeyring.in_data_dir(rondo.data_dir))
        try:
            async with db.session() as session:
                rows = await key_q.checkout_keys(session, uuid.UUID(project_id))
                extra = await key_q.ssh_keys(session, uuid.UUID(project_id))
            sealed = [(r, checkout_key_aad(r.project_id, r.fingerprint)) for r in rows]
            sealed += [(r, ssh_key_aad(r.project_id, r.hostname, r.fingerprint)) for r in extra]
            return [await box.open(Sealed(r.wrapped_dek, r.ciphertext), aad) for r, aad in sealed]
        finally:
            await db.close()

    found: list[Any] = asyncio.run(opened())
    assert found, "the project has a checkout key"
    return found
