"""The Alembic history builds the schema the models describe, on SQLite and PostgreSQL, both ways."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from rondo.store.migrate import downgrade, sync_url, upgrade
from rondo.store.models import Base


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
