"""Users and tokens: the first start's admin account, API tokens, agent tokens, and checking them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from rondo.engine.project_tokens import ProjectGrant
from rondo.ops.audit import SERVER_SCOPE, SYSTEM, Origin, record, user_ref
from rondo.secrets.tokens import (
    ADMIN_TOKEN_FILE,
    AGENT_TOKEN_PREFIX,
    BUILTIN_AGENT_TOKEN_FILE,
    USER_TOKEN_PREFIX,
    display_prefix,
    new_token,
    token_digest,
)
from rondo.store import users as user_q
from rondo.store.db import Database
from rondo.store.models import ApiToken, User

__all__ = ["ADMIN_TOKEN_FILE", "BUILTIN_AGENT_TOKEN_FILE", "Accounts", "FirstStart", "write_secret_file"]


@dataclass(frozen=True)
class FirstStart:
    admin_login: str
    admin_token: str


def write_secret_file(path: Path, value: str) -> None:
    """Write a token file readable by its owner only (0600), replacing any earlier one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    os.replace(tmp, path)


class Accounts:
    def __init__(self, db: Database, server_key: bytes) -> None:
        self._db = db
        self._key = server_key

    async def first_start(self, data_dir: Path) -> FirstStart | None:
        """On an empty database, create the admin user and its API token and write it to the data dir."""
        async with self._db.session() as session:
            if await user_q.count_users(session) > 0:
                return None
            user = await user_q.create_user(session, "admin", "Administrator", is_admin=True)
            payload = {"login": user.login, "admin": True, "suspended": False, "reason": "first start"}
            record(session, "user.create", Origin(SYSTEM), user_ref(user), SERVER_SCOPE, payload)
            token = new_token(USER_TOKEN_PREFIX)
            await user_q.add_token(
                session,
                kind="user",
                digest=token_digest(self._key, token),
                display=display_prefix(token),
                label="created at first start",
                user_id=user.id,
            )
        write_secret_file(data_dir / ADMIN_TOKEN_FILE, token)
        return FirstStart(user.login, token)

    async def create_agent_token(self, label: str) -> str:
        token = new_token(AGENT_TOKEN_PREFIX)
        async with self._db.session() as session:
            await user_q.add_token(
                session,
                kind="agent",
                digest=token_digest(self._key, token),
                display=display_prefix(token),
                label=label,
            )
        return token

    async def builtin_agent_token(self, data_dir: Path) -> str:
        """The built-in agent's token: kept in the data dir and made anew if it is missing or revoked."""
        path = data_dir / BUILTIN_AGENT_TOKEN_FILE
        if path.exists():
            token = path.read_text().strip()
            if await self.agent_token(token) is not None:
                return token
        token = await self.create_agent_token("built-in agent")
        write_secret_file(path, token)
        return token

    async def user_for_token(self, token: str) -> User | None:
        async with self._db.session() as session:
            user = await user_q.user_for_token(session, token_digest(self._key, token))
            if user is None or user.suspended:
                return None
            return user

    async def caller_for_token(self, token: str) -> User | ProjectGrant | None:
        """Who an API token stands for: an active user (personal token) or a project token's grant."""
        async with self._db.session() as session:
            found = await user_q.token_and_user_by_digest(session, token_digest(self._key, token), "user", "project")
            if found is None:
                return None
            api_token, user = found
            await user_q.touch_token(session, api_token)
            if api_token.kind == "project":
                return ProjectGrant.of(api_token)
            if user is None or user.suspended:
                return None
            return user

    async def agent_token(self, token: str) -> ApiToken | None:
        async with self._db.session() as session:
            return await user_q.token_by_digest(session, token_digest(self._key, token), "agent")
