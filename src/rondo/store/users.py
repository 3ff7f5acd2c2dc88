"""Queries on users and their API tokens (and agent tokens, which share the token table)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from rondo.store.models import ApiToken, User
from rondo.store.types import utcnow


async def count_users(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(User))).scalar_one())


async def create_user(session: AsyncSession, login: str, name: str, *, is_admin: bool = False) -> User:
    user = User(login=login, name=name, is_admin=is_admin)
    session.add(user)
    await session.flush()
    return user


async def add_token(
    session: AsyncSession,
    *,
    kind: str,
    digest: str,
    display: str,
    label: str,
    user_id: uuid.UUID | None = None,
    project_id: uuid.UUID | None = None,
    scope: str | None = None,
) -> ApiToken:
    token = ApiToken(
        kind=kind, digest=digest, display=display, label=label, user_id=user_id, project_id=project_id, scope=scope
    )
    session.add(token)
    await session.flush()
    return token


# Built once: these run on every request (building a statement costs about as much as running it).
_LIVE_TOKEN = (
    ApiToken.digest == bindparam("digest"),
    ApiToken.kind.in_(bindparam("kinds", expanding=True)),
    ApiToken.revoked.is_(False),
)
_TOKEN_BY_DIGEST = select(ApiToken).where(*_LIVE_TOKEN)
_TOKEN_AND_USER_BY_DIGEST = select(ApiToken, User).outerjoin(User, User.id == ApiToken.user_id).where(*_LIVE_TOKEN)


async def token_by_digest(session: AsyncSession, digest: str, *kinds: str) -> ApiToken | None:
    """The live (not revoked) token of one of these kinds with this digest."""
    return (await session.execute(_TOKEN_BY_DIGEST, {"digest": digest, "kinds": list(kinds)})).scalar_one_or_none()


async def token_and_user_by_digest(
    session: AsyncSession, digest: str, *kinds: str
) -> tuple[ApiToken, User | None] | None:
    """`token_by_digest` with the token's user (None for a project token), in one query."""
    row = (await session.execute(_TOKEN_AND_USER_BY_DIGEST, {"digest": digest, "kinds": list(kinds)})).first()
    return (row[0], row[1]) if row is not None else None


TOUCH_EVERY = timedelta(minutes=1)  # `last_used_at` is to the minute: no write on every request


async def touch_token(session: AsyncSession, token: ApiToken) -> None:
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at >= TOUCH_EVERY:
        await session.execute(update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=now))


async def project_tokens(session: AsyncSession, project_id: uuid.UUID) -> list[ApiToken]:
    """A project's live API tokens, oldest first."""
    stmt = (
        select(ApiToken)
        .where(ApiToken.kind == "project", ApiToken.project_id == project_id, ApiToken.revoked.is_(False))
        .order_by(ApiToken.created_at, ApiToken.id)
    )
    return list((await session.execute(stmt)).scalars())


async def user_for_token(session: AsyncSession, digest: str) -> User | None:
    token = await token_by_digest(session, digest, "user")
    if token is None or token.user_id is None:
        return None
    await touch_token(session, token)
    return await session.get(User, token.user_id)


_USER_BY_LOGIN = select(User).where(User.login == bindparam("login"))


async def user_by_login(session: AsyncSession, login: str) -> User | None:
    return (await session.execute(_USER_BY_LOGIN, {"login": login})).scalar_one_or_none()


async def all_users(session: AsyncSession) -> list[User]:
    return list((await session.execute(select(User).order_by(User.login))).scalars())
