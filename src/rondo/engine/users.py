"""User accounts as administrators manage them (create, suspend, activate), and sign-in events."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from rondo.engine.workflow_actions import ActionError
from rondo.ops.audit import SERVER_SCOPE, Origin, record, user_ref
from rondo.secrets.tokens import USER_TOKEN_PREFIX, display_prefix, new_token, token_digest
from rondo.store import system_settings as settings_q
from rondo.store import users as user_q
from rondo.store.db import Database
from rondo.store.models import User

LOGIN_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.@")


class UserService:
    def __init__(self, db: Database, server_key: bytes) -> None:
        self._db = db
        self._key = server_key

    async def list_all(self) -> list[User]:
        async with self._db.session() as session:
            return await user_q.all_users(session)

    async def create(self, login: str, name: str, is_admin: bool, origin: Origin) -> tuple[User, str]:
        """A new user and its first API token (shown once). Suspended if `suspend_new_users` is on."""
        if not login or len(login) > 200 or not set(login) <= LOGIN_CHARS:
            raise ActionError(400, f"{login!r} is not a valid login: use letters, digits and - _ . @")
        token = new_token(USER_TOKEN_PREFIX)
        async with self._db.session() as session:
            if await user_q.user_by_login(session, login) is not None:
                raise ActionError(409, f"A user called {login} already exists.")
            suspended = bool((await settings_q.all_settings(session)).get("suspend_new_users", False))
            user = await user_q.create_user(session, login, name or login, is_admin=is_admin)
            user.suspended = suspended
            await user_q.add_token(
                session,
                kind="user",
                digest=token_digest(self._key, token),
                display=display_prefix(token),
                label="created with the account",
                user_id=user.id,
            )
            payload = {"login": login, "admin": is_admin, "suspended": suspended}
            record(session, "user.create", origin, user_ref(user), SERVER_SCOPE, payload)
        return user, token

    async def _user(self, session: AsyncSession, login: str) -> User:
        user = await user_q.user_by_login(session, login)
        if user is None:
            raise ActionError(404, f"No user is called {login}.")
        return user

    async def set_suspended(self, login: str, suspended: bool, origin: Origin) -> User:
        """Suspend (no API or UI access) or activate a user (user.suspend / user.activate)."""
        async with self._db.session() as session:
            user = await self._user(session, login)
            if suspended and origin.actor.id == str(user.id):
                raise ActionError(400, "You cannot suspend yourself.")
            was = user.suspended
            user.suspended = suspended
            action = "user.suspend" if suspended else "user.activate"
            record(session, action, origin, user_ref(user), SERVER_SCOPE, {"login": login, "was_suspended": was})
        return user

    async def signed(self, user: User, action: str, origin: Origin) -> None:
        """Record a web UI sign-in or sign-out (user.logged_in / user.logged_out)."""
        async with self._db.session() as session:
            record(session, action, origin, user_ref(user), SERVER_SCOPE, {"login": user.login, "via": "web"})
