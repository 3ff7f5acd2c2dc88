"""The SSH keys a job gets, chosen when it is queued (still sealed) and opened when an agent claims it.

A job with a `checkout` step of a repository reached over SSH gets the project's preferred checkout
key; a job with an `add_ssh_keys` step gets the project's additional keys (the step picks among them
by fingerprint). Other jobs get no key at all. The sealed copies travel in `task_secrets` beside the
job's variables, marked by `kind`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from rondo.domain.agent_protocol import SshKeySpec
from rondo.domain.ssh_keys import is_ssh_url
from rondo.secrets.ssh_keys import checkout_key_aad, ssh_key_aad
from rondo.store import ssh_keys as key_q
from rondo.store.models import Project

CHECKOUT_KEY = "checkout_key"
SSH_KEY = "ssh_key"


def _step_types(definition: dict[str, Any]) -> set[str]:
    types = set()
    for step in definition.get("steps", []):
        if isinstance(step, dict):
            types.add(str(step.get("step") if step.get("type") == "builtin" else step.get("type")))
    return types


async def choose(
    session: AsyncSession, project: Project, definition: dict[str, Any], vcs_url: str
) -> list[dict[str, str]]:
    """Sealed entries for the keys the job's steps need."""
    steps = _step_types(definition)
    entries: list[dict[str, str]] = []
    if "checkout" in steps and is_ssh_url(vcs_url):
        keys = await key_q.checkout_keys(session, project.id)
        if keys:
            key = keys[0]
            entries.append(
                {
                    "kind": CHECKOUT_KEY,
                    "name": key.fingerprint,
                    "aad": checkout_key_aad(project.id, key.fingerprint),
                    "wrapped_dek": key.wrapped_dek,
                    "ciphertext": key.ciphertext,
                    "fingerprint": key.fingerprint,
                    "sha256_fingerprint": key.sha256_fingerprint,
                }
            )
    if "add_ssh_keys" in steps:
        for row in await key_q.ssh_keys(session, project.id):
            entries.append(
                {
                    "kind": SSH_KEY,
                    "name": row.fingerprint,
                    "aad": ssh_key_aad(project.id, row.hostname, row.fingerprint),
                    "wrapped_dek": row.wrapped_dek,
                    "ciphertext": row.ciphertext,
                    "fingerprint": row.fingerprint,
                    "sha256_fingerprint": row.sha256_fingerprint,
                    "hostname": row.hostname,
                }
            )
    return entries


def key_spec(entry: dict[str, str], private_key: str) -> SshKeySpec:
    return SshKeySpec(
        private_key=private_key,
        fingerprint=entry["fingerprint"],
        sha256_fingerprint=entry["sha256_fingerprint"],
        hostname=entry.get("hostname", ""),
    )
