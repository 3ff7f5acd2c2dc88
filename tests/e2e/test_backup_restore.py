"""Backup and restore end to end, on SQLite and on PostgreSQL: `rondo backup` beside a live `rondo server`
with its built-in agent, `rondo restore` into a fresh data dir and database, and a server started on
the restored installation.

The restored server has the pipelines, the masked variables, the contexts, the artifacts, the cache and
the step output; its jobs still get the secret values (so the keys came along); the job that was
running at backup time is `infrastructure_fail` with the reason, not Running forever; and the admin's
token still signs in (so the server key came along).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2
import pytest
from backports.zstd import ZstdFile, tarfile
from sqlalchemy import create_engine, insert

from rondo.objects import S3Settings
from rondo.ops.backup_database import revision
from rondo.secrets.keyring import LocalKeyring
from rondo.secrets.server_key import load_or_create_server_key
from rondo.secrets.tokens import ADMIN_TOKEN_FILE
from rondo.store.migrate import head_revision, sync_url, upgrade
from rondo.store.models import User
from tests.conftest import _create_database, _drop_database, commit_files, make_repo
from tests.e2e.server_process import RondoServer, wait_for
from tests.e2e.test_push_runs_jobs import FINAL, jobs_by_name, step_output, workflows
from tests.engine.harness import InProcessServer
from tests.plaintext import database_text
from tests.s3_server import s3_environment

pytestmark = pytest.mark.e2e

PROJECT_TOKEN = "prj-backup-7c41e0d2"
CTX_TOKEN = "ctx-backup-93aa05f1"

CONFIG = """\
version: 2.1
parameters:
  slow: {type: boolean, default: true}
jobs:
  build:
    machine: true
    steps:
      - restore_cache: {keys: [deps-]}
      - run:
          name: Use the secrets
          command: |
            echo "sha: $(printf %s "$PROJECT_TOKEN$CTX_TOKEN" | sha256sum | cut -c1-16)"
            echo "cached: $(cat out/report.txt 2>/dev/null || echo none)"
            mkdir -p out && echo "artifact body 42" > out/report.txt
      - store_artifacts: {path: out, destination: out}
      - save_cache: {key: deps-v1, paths: [out]}
  slow:
    machine: true
    steps:
      - run:
          name: Still running at backup time
          command: echo "slow job started"; sleep 600
workflows:
  main:
    jobs:
      - build: {context: org-global}
  hang:
    when: << pipeline.parameters.slow >>
    jobs: [slow]
"""


def sha(*values: str) -> str:
    return hashlib.sha256("".join(values).encode()).hexdigest()[:16]


def restore_target(url: str) -> Iterator[str]:
    """The restore target's database: SQLite in its own data dir (""), or another new, empty PostgreSQL one."""
    if url.startswith("sqlite"):
        yield ""
        return
    target = _create_database()
    try:
        yield target
    finally:
        _drop_database(target)


@pytest.fixture
def second_database_url(database_url: str) -> Iterator[str]:
    yield from restore_target(database_url)


@pytest.fixture
def second_empty_database_url(empty_database_url: str) -> Iterator[str]:
    yield from restore_target(empty_database_url)


def rondo(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rondo", *args], capture_output=True, text=True, env=env, timeout=300, check=False
    )


def archive_members(path: Path) -> dict[str, bytes]:
    with ZstdFile(path, "r") as zf, tarfile.open(fileobj=zf, mode="r|") as tar:
        out = {}
        for member in tar:
            f = tar.extractfile(member)
            assert f is not None
            out[member.name] = f.read()
        return out


def workflow_named(api: httpx2.Client, pipeline_id: str, name: str) -> dict[str, Any] | None:
    return next((w for w in workflows(api, pipeline_id) if w["name"] == name), None)


def finished(api: httpx2.Client, pipeline_id: str, name: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        wf = workflow_named(api, pipeline_id, name)
        return wf if wf and wf["status"] in FINAL else None

    return dict(wait_for(done, timeout=120, what=f"workflow {name} to finish"))


def steps_of(api: httpx2.Client, job_number: int) -> dict[str, str]:
    build = api.get(f"/api/v1.1/project/github/acme/app/{job_number}").json()
    return {s["name"]: s["actions"][0]["status"] for s in build["steps"]}


def audit_rows(api: httpx2.Client, action: str) -> list[dict[str, Any]]:
    body = api.get("/api/v2/admin/audit-log")
    assert body.status_code == 200, body.text
    rows = [r for r in csv.DictReader(io.StringIO(body.text)) if r["action"] == action]
    return [{k: (json.loads(v) if v[:1] in "{[" else v) for k, v in r.items()} for r in rows]


def test_backup_of_a_live_server_restores_onto_a_new_installation(
    tmp_path: Path, database_url: str, second_database_url: str
) -> None:
    db_a = "" if database_url.startswith("sqlite") else database_url
    a = RondoServer(tmp_path / "a", db_a, RONDO_REF_POLL_INTERVAL_S="3600").start()
    try:
        repo = make_repo(tmp_path / "app", {"README.md": "# app\n"})
        with a.client() as api:
            project = api.post("/api/v2/project/gh/acme/app", json={"vcs_url": str(repo)})
            assert project.status_code == 201, project.text
            org_id = project.json()["organization_id"]
            put = api.post("/api/v2/project/gh/acme/app/envvar", json={"name": "PROJECT_TOKEN", "value": PROJECT_TOKEN})
            assert put.status_code == 201, put.text
            ctx = api.post("/api/v2/context", json={"name": "org-global", "owner": {"id": org_id}}).json()
            put = api.put(f"/api/v2/context/{ctx['id']}/environment-variable/CTX_TOKEN", json={"value": CTX_TOKEN})
            assert put.status_code == 200, put.text
            commit_files(repo, {".circleci/config.yml": CONFIG}, "add config")
            assert api.post("/hooks/git").status_code == 202  # as the git hook does: the push is seen at once

            def second_pipeline() -> dict[str, Any] | None:
                items = api.get("/api/v2/project/gh/acme/app/pipeline").json()["items"]
                return next((p for p in items if p["number"] == 2), None)

            pipeline = wait_for(second_pipeline, timeout=30, what="the pipeline of the config commit")
            main = finished(api, pipeline["id"], "main")
            assert main["status"] == "success", a.log()[-3000:]
            build = jobs_by_name(api, main["id"])["build"]

            def slow_step_running() -> int | None:
                hang = workflow_named(api, pipeline["id"], "hang")
                slow = jobs_by_name(api, hang["id"])["slow"] if hang else {}
                if slow.get("job_number") and steps_of(api, slow["job_number"]).get("Still running at backup time"):
                    return int(slow["job_number"])
                return None

            slow_number = wait_for(slow_step_running, timeout=60, what="the slow job's step to start")
            wait_for(lambda: "slow job started" in step_output(api, slow_number)["Still running at backup time"])

            # The backup, taken while the server runs and the slow job sleeps.
            archive = tmp_path / "backups" / "rondo.tar.zst"
            archive.parent.mkdir()
            made = rondo(a.env, "backup", "--output", str(archive))
            assert made.returncode == 0, made.stderr
            assert f"backup written to {archive}" in made.stdout and "mode 0600" in made.stdout
            assert "rondo: copying the database" in made.stderr
            backup_events = audit_rows(api, "system.backup")
            assert len(backup_events) == 1 and backup_events[0]["success"] == "true"
            assert backup_events[0]["payload"]["file"] == str(archive)
            assert backup_events[0]["actor"]["type"] == "operator"

            # A restore into the live installation is refused, and changes nothing.
            keyring_before = (a.data_dir / "keys" / "keyring.json").read_bytes()
            refused = rondo(a.env, "restore", str(archive), "--force")
            assert refused.returncode == 1
            assert "a Rondo server (pid" in refused.stderr and "is running with the data dir" in refused.stderr
            assert (a.data_dir / "keys" / "keyring.json").read_bytes() == keyring_before
            assert api.get("/api/v2/project/gh/acme/app/envvar").json()["items"][0]["name"] == "PROJECT_TOKEN"
    finally:
        a.stop()

    # The archive: readable by its owner only, with the very keys the server used, and no value in clear.
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    assert [p.name for p in archive.parent.iterdir()] == ["rondo.tar.zst"]  # no temporary file left behind
    members = archive_members(archive)
    manifest = json.loads(members["manifest.json"])
    kind = "sqlite" if not db_a else "postgresql"
    assert (manifest["database_kind"], manifest["format"], manifest["master_key"]) == (kind, "rondo-backup", "keyring")
    assert manifest["database"]["sha256"] == hashlib.sha256(members[manifest["database"]["path"]]).hexdigest()
    for name in ("keys/keyring.json", "secret-key", "admin-token", "builtin-agent-token"):
        assert members[f"secrets/{name}"] == (a.data_dir / name).read_bytes(), name
    object_keys = {n.split("/")[1] for n in members if n.startswith("objects/")}
    assert {"artifacts", "caches", "output"} <= object_keys
    assert manifest["objects"]["files"] == len([n for n in members if n.startswith("objects/")])
    for value in (PROJECT_TOKEN, CTX_TOKEN):
        assert not [n for n, data in members.items() if value.encode() in data], value

    # Restore onto a new, empty installation, then serve it.
    b = RondoServer(tmp_path / "b", second_database_url, RONDO_REF_POLL_INTERVAL_S="3600")
    restored = rondo(b.env, "restore", str(archive))
    assert restored.returncode == 0, restored.stderr
    assert "1 task(s) marked infrastructure_fail, 0 requeued" in restored.stdout, restored.stdout
    assert (b.data_dir / "keys" / "keyring.json").read_bytes() == keyring_before
    assert stat.S_IMODE((b.data_dir / "secret-key").stat().st_mode) == 0o600
    b.start()
    try:
        with b.client() as api:  # the admin token of the old installation signs in: same server key
            numbers = [p["number"] for p in api.get("/api/v2/project/gh/acme/app/pipeline").json()["items"]]
            assert sorted(numbers) == [1, 2]
            env = api.get("/api/v2/project/gh/acme/app/envvar").json()["items"]
            assert [(v["name"], v["value"]) for v in env] == [("PROJECT_TOKEN", "xxxx" + PROJECT_TOKEN[-4:])]
            contexts = api.get("/api/v2/context", params={"owner-id": org_id}).json()["items"]
            assert [c["name"] for c in contexts] == ["org-global"]
            names = api.get(f"/api/v2/context/{contexts[0]['id']}/environment-variable").json()["items"]
            assert [v["variable"] for v in names] == ["CTX_TOKEN"]

            # The finished job: its output (an object) and its artifact.
            out = step_output(api, build["job_number"])["Use the secrets"]
            assert f"sha: {sha(PROJECT_TOKEN, CTX_TOKEN)}" in out and "cached: none" in out
            artifacts = api.get(f"/api/v2/project/gh/acme/app/{build['job_number']}/artifacts").json()["items"]
            assert [x["path"] for x in artifacts] == ["out/report.txt"]
            body = httpx2.get(artifacts[0]["url"], headers={"Circle-Token": b.token}, follow_redirects=True)
            assert body.status_code == 200 and body.text == "artifact body 42\n"

            # The job running at backup time ended, saying why; so did its step.
            details = api.get(f"/api/v2/project/gh/acme/app/job/{slow_number}").json()
            assert details["status"] == "infrastructure_fail"
            reasons = [m["message"] for m in details["messages"]]
            assert any("restored from a backup taken at " + manifest["created_at"] in r for r in reasons), reasons
            assert steps_of(api, slow_number) == {"Still running at backup time": "infrastructure_fail"}
            assert "slow job started" in step_output(api, slow_number)["Still running at backup time"]

            # A new pipeline on the restored installation: the job gets the values, the cache is there.
            again = api.post(
                "/api/v2/project/gh/acme/app/pipeline", json={"branch": "main", "parameters": {"slow": False}}
            ).json()
            main2 = finished(api, again["id"], "main")
            out2 = step_output(api, jobs_by_name(api, main2["id"])["build"]["job_number"])
            assert main2["status"] == "success", (out2, b.log()[-3000:])
            assert f"sha: {sha(PROJECT_TOKEN, CTX_TOKEN)}" in out2["Use the secrets"]
            assert "cached: artifact body 42" in out2["Use the secrets"]

            restore_events = audit_rows(api, "system.restore")
            assert len(restore_events) == 1
            assert restore_events[0]["payload"]["tasks_failed"] == 1
            assert restore_events[0]["payload"]["backup"]["created_at"] == manifest["created_at"]
    finally:
        b.stop()


# ---- refusals: nothing changes ------------------------------------------------------------------------


def state_of(data_dir: Path, url: str) -> tuple[dict[str, str], str]:
    """Every file of a data dir (but the lock) by sha256, and every row of its database."""
    files = {
        p.relative_to(data_dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(data_dir.rglob("*"))
        if p.is_file() and p.name != "server.lock" and not p.name.startswith("rondo.db")
    }
    return files, database_text(url or f"sqlite+aiosqlite:///{data_dir / 'rondo.db'}")


def env_for(data_dir: Path, url: str) -> dict[str, str]:
    return {**os.environ, "RONDO_DATA_DIR": str(data_dir), "RONDO_DATABASE_URL": url}


def small_installation(data_dir: Path, url: str, secret: str) -> None:
    """An installation as a first start leaves it, with a followed project holding one variable."""
    repo = make_repo(data_dir.parent / f"repo-{data_dir.name}", {"README.md": "# app\n"})
    with (
        InProcessServer(data_dir, url) as server,
        httpx2.Client(base_url=server.url, headers={"Circle-Token": server.admin_token}, timeout=30) as api,
    ):
        assert api.post("/api/v2/project/gh/acme/app", json={"vcs_url": str(repo)}).status_code == 201
        body = {"name": "PROJECT_TOKEN", "value": secret}
        assert api.post("/api/v2/project/gh/acme/app/envvar", json=body).status_code == 201


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite+aiosqlite:///{data_dir / 'rondo.db'}"


def test_damaged_foreign_and_unwanted_restores_change_nothing(
    tmp_path: Path, database_url: str, second_database_url: str
) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    src_url = database_url if not database_url.startswith("sqlite") else sqlite_url(src)
    dst_url = second_database_url or sqlite_url(dst)
    small_installation(src, src_url, "source-value-1111")
    small_installation(dst, dst_url, "target-value-2222")
    archive = tmp_path / "good.tar.zst"
    made = rondo(env_for(src, src_url), "backup", "-o", str(archive))
    assert made.returncode == 0, made.stderr
    good = archive.read_bytes()
    before = state_of(dst, dst_url)

    def attempt(name: str, data: bytes, *flags: str) -> str:
        path = tmp_path / name
        path.write_bytes(data)
        done = rondo(env_for(dst, dst_url), "restore", str(path), *flags)
        assert done.returncode == 1, (name, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
        assert state_of(dst, dst_url) == before, name
        assert not list(dst.glob(".restore-*")), "the staging folder is cleaned up"
        return done.stderr

    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0x01
    assert "damaged" in attempt("flipped.tar.zst", bytes(flipped), "--force")
    assert "is truncated or damaged" in attempt("cut.tar.zst", good[: len(good) * 3 // 4], "--force")
    assert "is not a Rondo backup" in attempt("notes.txt", b"dear diary\n", "--force")
    assert "is not a Rondo backup" in attempt("random.bin", os.urandom(4096), "--force")
    message = attempt("good.tar.zst", good)
    assert "the installation is not empty (the database holds users: 1, projects: 1" in message
    assert "add --force to replace it; nothing was changed" in message

    # With --force the good archive replaces the target: the source's variable, keys and token now.
    done = rondo(env_for(dst, dst_url), "restore", str(archive), "--force")
    assert done.returncode == 0, done.stderr
    assert (dst / "keys" / "keyring.json").read_bytes() == (src / "keys" / "keyring.json").read_bytes()
    assert (dst / ADMIN_TOKEN_FILE).read_text() == (src / ADMIN_TOKEN_FILE).read_text()
    stored = database_text(dst_url)
    assert "xxxx1111" in stored and "xxxx2222" not in stored


def test_restores_across_databases_are_refused_with_the_reason(tmp_path: Path, postgres_url: str) -> None:
    lite, pg = tmp_path / "lite", tmp_path / "pg"
    small_installation(lite, sqlite_url(lite), "value-aaaa")
    archive = tmp_path / "lite.tar.zst"
    assert rondo(env_for(lite, sqlite_url(lite)), "backup", "-o", str(archive)).returncode == 0
    done = rondo(env_for(pg, postgres_url), "restore", str(archive))
    assert done.returncode == 1
    assert "this backup holds a SQLite database but this installation uses PostgreSQL" in done.stderr
    assert "restoring across databases is not supported" in done.stderr and "RONDO_DATABASE_URL unset" in done.stderr
    assert not pg.exists()  # made only to hold the lock, and removed again


def test_a_backup_of_an_older_rondo_is_upgraded_on_restore(
    tmp_path: Path, empty_database_url: str, second_empty_database_url: str
) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    old_url = empty_database_url if not empty_database_url.startswith("sqlite") else sqlite_url(old)
    new_url = second_empty_database_url or sqlite_url(new)
    upgrade(old_url, "0006")  # before the audit log and the secrets existed
    load_or_create_server_key(old)
    LocalKeyring.in_data_dir(old)
    engine = create_engine(sync_url(old_url))
    with engine.begin() as conn:  # the model's column types store it as this Rondo would
        row = {"id": uuid.uuid4(), "login": "old-timer", "name": "Old", "is_admin": True, "suspended": False}
        conn.execute(insert(User.__table__).values(**row, created_at=datetime.now(UTC)))
    engine.dispose()
    archive = tmp_path / "old.tar.zst"
    made = rondo(env_for(old, old_url), "backup", "-o", str(archive))
    assert made.returncode == 0, made.stderr
    assert "schema revision 0006" in made.stdout and "no audit event" in made.stderr
    done = rondo(env_for(new, new_url), "restore", str(archive))
    assert done.returncode == 0, done.stderr
    assert f"schema    0006 -> {head_revision()}" in done.stdout
    assert revision(new_url) == head_revision()
    stored = database_text(new_url)
    assert "old-timer" in stored and "system.restore" in stored


def test_objects_in_s3_or_left_out_are_named_not_copied(tmp_path: Path, s3_settings: S3Settings) -> None:
    src = tmp_path / "src"
    small_installation(src, sqlite_url(src), "value-s3s3")
    s3 = s3_environment(s3_settings)

    # With S3, the archive says where the objects are and holds none.
    archive = tmp_path / "s3.tar.zst"
    made = rondo({**env_for(src, sqlite_url(src)), **s3}, "backup", "-o", str(archive))
    assert made.returncode == 0, made.stderr
    assert f"no objects (they live in the S3 bucket {s3_settings.bucket})" in made.stdout
    members = archive_members(archive)
    objects = json.loads(members["manifest.json"])["objects"]
    assert (objects["backend"], objects["included"], objects["bucket"]) == ("s3", False, s3_settings.bucket)
    assert "not in this archive" in objects["note"]
    assert not [n for n in members if n.startswith("objects/")]

    # Restoring it where the bucket is not configured would lose the objects: refused unless --force.
    bare = tmp_path / "bare"
    done = rondo(env_for(bare, sqlite_url(bare)), "restore", str(archive))
    assert done.returncode == 1 and f"kept its objects in the S3 bucket {s3_settings.bucket}" in done.stderr
    assert "set RONDO_S3_BUCKET" in done.stderr and not bare.exists()
    done = rondo({**env_for(bare, sqlite_url(bare)), **s3}, "restore", str(archive))
    assert done.returncode == 0, done.stderr
    assert "objects   none in the archive" in done.stdout and "warning" not in done.stdout

    # --no-objects leaves the local folder out, and the restore says what to copy.
    (src / "objects" / "artifacts").mkdir(parents=True)
    (src / "objects" / "artifacts" / "kept-elsewhere").write_bytes(b"x")
    lean = tmp_path / "lean.tar.zst"
    made = rondo(env_for(src, sqlite_url(src)), "backup", "-o", str(lean), "--no-objects")
    assert made.returncode == 0 and "no objects (--no-objects)" in made.stdout
    assert not [n for n in archive_members(lean) if n.startswith("objects/")]
    other = tmp_path / "other"
    done = rondo(env_for(other, sqlite_url(other)), "restore", str(lean))
    assert done.returncode == 0, done.stderr
    assert "warning: the backup was made with --no-objects: copy the old objects folder into" in done.stdout
