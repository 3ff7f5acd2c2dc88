"""`rondo keys rotate`: every data key re-wrapped under a new master key, old keys dropped, values intact."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from rondo.engine.key_rotation import rotate_keys
from rondo.engine.webhooks import WebhookSpec
from rondo.ops.audit import SYSTEM, Origin
from rondo.secrets.envelope import Sealed, env_var_aad, webhook_secret_aad
from rondo.secrets.ssh_keys import checkout_key_aad, generate_ed25519, read_private_key, ssh_key_aad
from rondo.server.app import build_services
from rondo.settings import Settings
from rondo.store import env_vars as env_q
from rondo.store import projects as project_q
from rondo.store import ssh_keys as key_q
from rondo.store.models import Project, TaskSecrets


async def test_rotation_rewraps_every_data_key_and_keeps_values(tmp_path: Path, database_url: str) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, builtin_agent=False)
    svc = build_services(settings)
    origin = Origin(SYSTEM)
    try:
        async with svc.db.session() as session:
            org = await project_q.ensure_organization(session, "gh", "gh/acme", "acme")
            project = Project(organization_id=org.id, slug="gh/acme/app", name="app", vcs_url="/nowhere")
            session.add(project)
        for i in range(3):
            await svc.project_env.put(project.id, f"VAR_{i}", f"project-value-{i}", origin)
        admin = (await svc.users.create("root", "Root", True, origin))[0]
        ctx = await svc.contexts.create(org, "org-global", admin, origin)
        await svc.contexts.put_env_var(ctx.id, "CTX", "context-value", admin, origin)
        hook = await svc.webhooks.create(
            WebhookSpec("hook", ["job-completed"], "https://hooks.example.com/", True, "hook-secret", str(project.id)),
            origin,
        )
        checkout_key = await svc.ssh_keys.create_checkout_key(project.id, "deploy-key", origin)
        additional = await svc.ssh_keys.add_ssh_key(
            project.id, "deploy.example.com", generate_ed25519().private_key, origin
        )
        old_key = svc.secret_box.wrapper.current_id  # type: ignore[attr-defined]

        report = await rotate_keys(svc.db, svc.secret_box, settle_s=0)
        assert report.rewrapped == {
            "project_env_vars": 3,
            "context_env_vars": 1,
            "webhooks": 1,
            "checkout_keys": 1,
            "project_ssh_keys": 1,
            "task_secrets": 0,
        }
        assert report.dropped_keys == [old_key]
        keyring = json.loads((tmp_path / "data" / "keys" / "keyring.json").read_text())
        assert [k["id"] for k in keyring["keys"]] == [report.new_key] != [old_key]

        async with svc.db.session() as session:
            rows = await env_q.project_env_vars(session, project.id)
            ctx_rows = await env_q.context_env_vars(session, [ctx.id])
        for row in rows:
            assert row.wrapped_dek.startswith(f"local:{report.new_key}:")
            value = await svc.secret_box.open(
                Sealed(row.wrapped_dek, row.ciphertext), env_var_aad("project", project.id, row.name)
            )
            assert value == f"project-value-{row.name[-1]}"
        ctx_value = await svc.secret_box.open(
            Sealed(ctx_rows[0].wrapped_dek, ctx_rows[0].ciphertext), env_var_aad("context", ctx.id, "CTX")
        )
        assert ctx_value == "context-value"
        hook = await svc.webhooks.get(hook.id)
        assert hook.wrapped_dek.startswith(f"local:{report.new_key}:")
        assert await svc.secret_box.open(Sealed(hook.wrapped_dek, hook.ciphertext), webhook_secret_aad(hook.id)) == (
            "hook-secret"
        )
        async with svc.db.session() as session:
            (key_row,) = await key_q.checkout_keys(session, project.id)
            (ssh_row,) = await key_q.ssh_keys(session, project.id)
        for row, aad in (
            (key_row, checkout_key_aad(project.id, checkout_key.fingerprint)),
            (ssh_row, ssh_key_aad(project.id, "deploy.example.com", additional.fingerprint)),
        ):
            assert row.wrapped_dek.startswith(f"local:{report.new_key}:")
            opened = await svc.secret_box.open(Sealed(row.wrapped_dek, row.ciphertext), aad)
            assert read_private_key(opened).fingerprint == row.fingerprint
    finally:
        await svc.db.close()


def test_rondo_keys_rotate_command(tmp_path: Path) -> None:
    env = {**os.environ, "RONDO_DATA_DIR": str(tmp_path / "data"), "RONDO_DATABASE_URL": ""}
    listed = subprocess.run([sys.executable, "-m", "rondo", "keys", "list"], env=env, capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    first = listed.stdout.split()[0]
    assert "(current)" in listed.stdout
    rotated = subprocess.run(
        [sys.executable, "-m", "rondo", "keys", "rotate"], env=env, capture_output=True, text=True, timeout=60
    )
    assert rotated.returncode == 0, rotated.stderr
    assert "new master key:" in rotated.stdout and f"dropped old master key(s): {first}" in rotated.stdout
    assert TaskSecrets.__tablename__ in rotated.stdout
