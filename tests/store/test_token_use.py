"""An API token's `last_used_at`: kept to the minute, so a busy client's every request is not a write."""

import uuid
from datetime import timedelta

from rondo.store import users as user_q
from rondo.store.db import Database
from rondo.store.models import ApiToken


async def test_last_used_at_is_written_once_a_minute(db: Database) -> None:
    async with db.session() as s:
        token = ApiToken(kind="user", label="t", digest=uuid.uuid4().hex, display="x")
        s.add(token)
    assert token.last_used_at is None

    async def use() -> ApiToken:
        async with db.session() as s:
            found = await user_q.token_by_digest(s, token.digest, "user")
            assert found is not None
            await user_q.touch_token(s, found)
        async with db.session() as s:
            again = await s.get(ApiToken, token.id)
            assert again is not None
            return again

    first = (await use()).last_used_at
    assert first is not None
    assert (await use()).last_used_at == first, "used again within the minute: not written"
    async with db.session() as s:
        row = await s.get(ApiToken, token.id)
        assert row is not None
        row.last_used_at = first - user_q.TOUCH_EVERY - timedelta(seconds=1)
    later = (await use()).last_used_at
    assert later is not None and later > first
