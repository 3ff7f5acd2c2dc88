"""The Alembic history builds the schema the models describe, on SQLite and PostgreSQL, both ways."""

import uuid

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from rondo.store.migrate import downgrade, sync_url, upgrade
from rondo.store.models import Base

TOKEN_ID = uuid.UUID("6f1c2a9e-3b7d-4c55-9a10-2f0d8e4b7c31")


def test_upgrade_downgrade_upgrade_matches_models(database_url: str) -> None:
    upgrade(database_url)
    downgrade(database_url, "base")
    upgrade(database_url)
    engine = create_engine(sync_url(database_url))
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
            tables = set(inspect(conn).get_table_names())
    finally:
        engine.dispose()
    assert diff == [], f"models and migrations differ: {diff}"
    assert {"pipelines", "workflows", "jobs", "tasks", "steps", "agents", "users", "api_tokens"} <= tables
    assert {"orbs", "orb_versions"} <= tables


def test_project_token_columns_keep_existing_tokens_and_agents(database_url: str) -> None:
    """0010 rebuilds api_tokens on SQLite (batch mode): tokens, and agents pointing at them, survive."""
    upgrade(database_url, "0008")
    engine = create_engine(sync_url(database_url))
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO api_tokens (id, kind, label, digest, display, created_at, revoked) "
                    "VALUES (:id, 'agent', 'a', :digest, 'rondoagt_x', CURRENT_TIMESTAMP, false)"
                ),
                {"id": TOKEN_ID if database_url.startswith("postgres") else TOKEN_ID.hex, "digest": "d" * 64},
            )
            conn.execute(
                text(
                    "INSERT INTO agents (id, name, token_id, resource_classes, executors, capacity, version, drain,"
                    " state, registered_at, last_seen_at) VALUES (:id, 'agent', :token, '[]', '[]', '{}', '', false,"
                    " 'ready', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                {
                    "id": uuid.uuid4() if database_url.startswith("postgres") else uuid.uuid4().hex,
                    "token": TOKEN_ID if database_url.startswith("postgres") else TOKEN_ID.hex,
                },
            )
        upgrade(database_url)
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT kind, digest, project_id, scope FROM api_tokens")).all()
            agents = conn.execute(text("SELECT count(*) FROM agents")).scalar_one()
    finally:
        engine.dispose()
    assert [tuple(r) for r in rows] == [("agent", "d" * 64, None, None)]
    assert agents == 1
