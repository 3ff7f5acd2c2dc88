"""A project's SSH keys: checkout keys Rondo makes (deploy keys) and additional keys people add.

Private halves are sealed like environment variable values and never leave the server except inside
a claimed task's spec; every change is audited (names and fingerprints only). The newest checkout key
is the preferred one: jobs check out with it, and the server reads the repository with it.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from rondo.domain.ssh_keys import normalize_fingerprint
from rondo.engine.project_env import seal
from rondo.engine.workflow_actions import ActionError
from rondo.ops.audit import Origin, Ref, org_ref, record
from rondo.secrets.envelope import Sealed, SecretBox
from rondo.secrets.ssh_keys import (
    SshKeyError,
    SshKeyPair,
    checkout_key_aad,
    generate_ed25519,
    read_private_key,
    ssh_key_aad,
)
from rondo.store import projects as project_q
from rondo.store import ssh_keys as key_q
from rondo.store.db import Database
from rondo.store.models import CheckoutKey, Project, ProjectSshKey
from rondo.store.types import utcnow

DEPLOY_KEY = "deploy-key"
USER_KEY_TYPES = ("github-user-key", "user-key")
# What an ssh_config `Host` line can hold: no spaces, quotes, commas or comments.
HOSTNAME = re.compile(r"^[^\s#\"',\\]{1,253}$")


def matches(row: CheckoutKey | ProjectSshKey, fingerprint: str) -> bool:
    """Whether a key has this fingerprint, MD5 or SHA256 (already normalized)."""
    return fingerprint in (row.fingerprint, row.sha256_fingerprint)


def checkout_key_not_found() -> ActionError:
    return ActionError(404, "Checkout key not found.")


class ProjectSshKeys:
    def __init__(self, db: Database, box: SecretBox) -> None:
        self._db = db
        self._box = box
        # project id -> (its preferred checkout key's id, the private key): the server's git reads poll often
        self._opened: dict[uuid.UUID, tuple[uuid.UUID, str]] = {}

    async def _project(self, session: AsyncSession, project_id: uuid.UUID) -> Project:
        project = await project_q.project_by_id(session, project_id)
        if project is None:
            raise ActionError(404, "Project not found")
        return project

    async def _audit(
        self, session: AsyncSession, action: str, project: Project, origin: Origin, payload: dict[str, Any]
    ) -> None:
        org = await project_q.organization(session, project.organization_id)
        record(session, action, origin, Ref(str(project.id), "project", project.slug), org_ref(org), payload)

    # ---- checkout keys ----------------------------------------------------------------------

    async def checkout_keys(self, project_id: uuid.UUID) -> list[CheckoutKey]:
        """Newest first; the first one is preferred."""
        async with self._db.session() as session:
            await self._project(session, project_id)
            return await key_q.checkout_keys(session, project_id)

    async def checkout_key(self, project_id: uuid.UUID, fingerprint: str) -> tuple[CheckoutKey, bool]:
        """One key by its MD5 or SHA256 fingerprint, and whether it is the preferred one."""
        wanted = normalize_fingerprint(fingerprint)
        keys = await self.checkout_keys(project_id)
        for index, row in enumerate(keys):
            if wanted is not None and matches(row, wanted):
                return row, index == 0
        raise checkout_key_not_found()

    async def create_checkout_key(self, project_id: uuid.UUID, key_type: str, origin: Origin) -> CheckoutKey:
        """Make a deploy key: a new Ed25519 key pair, which becomes the project's preferred key."""
        if key_type in USER_KEY_TYPES:
            raise ActionError(
                400,
                f"A {key_type} is made through GitHub with the signed-in user's GitHub account, and this "
                "server has no GitHub sign-in. Create a deploy-key instead and add its public key to the "
                "repository (as a deploy key, or to a machine user's account).",
            )
        if key_type != DEPLOY_KEY:
            raise ActionError(400, f"Unknown checkout key type {key_type!r}: use deploy-key.")
        pair = generate_ed25519()
        sealed = await seal(self._box, pair.private_key, checkout_key_aad(project_id, pair.fingerprint))
        return await self._store_checkout_key(project_id, pair, sealed, origin)

    async def _store_checkout_key(
        self, project_id: uuid.UUID, pair: SshKeyPair, sealed: Sealed, origin: Origin
    ) -> CheckoutKey:
        async with self._db.session() as session:
            project = await self._project(session, project_id)
            row = CheckoutKey(
                project_id=project_id,
                type=DEPLOY_KEY,
                public_key=pair.public_key,
                fingerprint=pair.fingerprint,
                sha256_fingerprint=pair.sha256_fingerprint,
                wrapped_dek=sealed.wrapped_dek,
                ciphertext=sealed.ciphertext,
                created_at=utcnow(),
            )
            session.add(row)
            payload = {"checkout_key": {"type": DEPLOY_KEY, "fingerprint": pair.fingerprint}}
            await self._audit(session, "project.checkout_key.create", project, origin, payload)
        return row

    async def delete_checkout_key(self, project_id: uuid.UUID, fingerprint: str, origin: Origin) -> None:
        """Delete a key; the newest remaining one (if any) becomes preferred."""
        wanted = normalize_fingerprint(fingerprint)
        async with self._db.session() as session:
            project = await self._project(session, project_id)
            keys = await key_q.checkout_keys(session, project_id)
            row = next((k for k in keys if wanted is not None and matches(k, wanted)), None)
            if row is None:
                raise checkout_key_not_found()
            await session.delete(row)
            payload = {
                "checkout_key": {"type": row.type, "fingerprint": row.fingerprint},
                "was_preferred": row is keys[0],
            }
            await self._audit(session, "project.checkout_key.delete", project, origin, payload)
        self._opened.pop(project_id, None)

    async def preferred_private_key(self, project_id: uuid.UUID) -> str | None:
        """The preferred checkout key's private half, for the server's own git reads (kept opened in memory)."""
        async with self._db.session() as session:
            keys = await key_q.checkout_keys(session, project_id)
        if not keys:
            return None
        row = keys[0]
        cached = self._opened.get(project_id)
        if cached is not None and cached[0] == row.id:
            return cached[1]
        opened = await self._box.open(
            Sealed(row.wrapped_dek, row.ciphertext), checkout_key_aad(project_id, row.fingerprint)
        )
        self._opened[project_id] = (row.id, opened)
        return opened

    # ---- additional SSH keys ----------------------------------------------------------------

    async def ssh_keys(self, project_id: uuid.UUID) -> list[ProjectSshKey]:
        async with self._db.session() as session:
            await self._project(session, project_id)
            return await key_q.ssh_keys(session, project_id)

    async def add_ssh_key(
        self, project_id: uuid.UUID, hostname: str | None, private_key: str, origin: Origin
    ) -> ProjectSshKey:
        """Add a private key for a host ("" or none: every host). The same key for the same host is kept once."""
        host = (hostname or "").strip()
        if host and not HOSTNAME.match(host):
            raise ActionError(
                400, f"{host!r} is not a hostname: use a host name, an address or an ssh_config pattern, "
                "without spaces, quotes or commas."
            )  # fmt: skip
        try:
            pair = read_private_key(private_key)
        except SshKeyError as exc:
            raise ActionError(400, str(exc)) from None
        async with self._db.session() as session:
            await self._project(session, project_id)
            for row in await key_q.ssh_keys(session, project_id):
                if row.hostname == host and row.fingerprint == pair.fingerprint:
                    return row
        sealed = await seal(self._box, pair.private_key, ssh_key_aad(project_id, host, pair.fingerprint))
        async with self._db.session() as session:
            project = await self._project(session, project_id)
            row = ProjectSshKey(
                project_id=project_id,
                hostname=host,
                public_key=pair.public_key,
                fingerprint=pair.fingerprint,
                sha256_fingerprint=pair.sha256_fingerprint,
                key_type=pair.key_type,
                wrapped_dek=sealed.wrapped_dek,
                ciphertext=sealed.ciphertext,
                created_at=utcnow(),
            )
            session.add(row)
            payload = {"ssh_key": {"hostname": host, "fingerprint": pair.fingerprint, "type": pair.key_type}}
            await self._audit(session, "project.ssh_key.create", project, origin, payload)
        return row

    async def delete_ssh_key(
        self, project_id: uuid.UUID, fingerprint: str, hostname: str | None, origin: Origin
    ) -> int:
        """Delete a key by fingerprint, for one hostname (or for every host it was added for when none is given)."""
        wanted = normalize_fingerprint(fingerprint)
        host = None if hostname is None else hostname.strip()
        async with self._db.session() as session:
            project = await self._project(session, project_id)
            rows = [
                r
                for r in await key_q.ssh_keys(session, project_id)
                if wanted is not None and matches(r, wanted) and (host is None or r.hostname == host)
            ]
            if not rows:
                raise ActionError(404, "SSH key not found.")
            for row in rows:
                await session.delete(row)
                payload = {"ssh_key": {"hostname": row.hostname, "fingerprint": row.fingerprint}}
                await self._audit(session, "project.ssh_key.delete", project, origin, payload)
        return len(rows)
