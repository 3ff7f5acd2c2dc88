"""The Alembic history builds the schema the models describe, on SQLite and PostgreSQL, both ways."""

import uuid
from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import DateTime, String, Uuid, column, create_engine, insert, inspect, select, table, text

from rondo.store.migrate import downgrade, sync_url, upgrade
from rondo.store.models import Base

TOKEN_ID = uuid.UUID("6f1c2a9e-3b7d-4c55-9a10-2f0d8e4b7c31")


def test_upgrade_downgrade_upgrade_matches_models(empty_database_url: str) -> None:
    upgrade(empty_database_url)
    downgrade(empty_database_url, "base")
    upgrade(empty_database_url)
    engine = create_engine(sync_url(empty_database_url))
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
            tables = set(inspect(conn).get_table_names())
    finally:
        engine.dispose()
    assert diff == [], f"models and migrations differ: {diff}"
    assert {"pipelines", "workflows", "jobs", "tasks", "steps", "agents", "users", "api_tokens"} <= tables
    assert {"orbs", "orb_versions"} <= tables


def test_project_token_columns_keep_existing_tokens_and_agents(empty_database_url: str) -> None:
    """0010 rebuilds api_tokens on SQLite (batch mode): tokens, and agents pointing at them, survive."""
    upgrade(empty_database_url, "0008")
    engine = create_engine(sync_url(empty_database_url))
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO api_tokens (id, kind, label, digest, display, created_at, revoked) "
                    "VALUES (:id, 'agent', 'a', :digest, 'rondoagt_x', CURRENT_TIMESTAMP, false)"
                ),
                {"id": TOKEN_ID if empty_database_url.startswith("postgres") else TOKEN_ID.hex, "digest": "d" * 64},
            )
            conn.execute(
                text(
                    "INSERT INTO agents (id, name, token_id, resource_classes, executors, capacity, version, drain,"
                    " state, registered_at, last_seen_at) VALUES (:id, 'agent', :token, '[]', '[]', '{}', '', false,"
                    " 'ready', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                {
                    "id": uuid.uuid4() if empty_database_url.startswith("postgres") else uuid.uuid4().hex,
                    "token": TOKEN_ID if empty_database_url.startswith("postgres") else TOKEN_ID.hex,
                },
            )
        upgrade(empty_database_url)
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT kind, digest, project_id, scope FROM api_tokens")).all()
            agents = conn.execute(text("SELECT count(*) FROM agents")).scalar_one()
    finally:
        engine.dispose()
    assert [tuple(r) for r in rows] == [("agent", "d" * 64, None, None)]
    assert agents == 1


# the orb tables as revision 0008 has them
OLD_ORBS = table(
    "orbs",
    column("id", Uuid()),
    column("namespace", String()),
    column("name", String()),
    column("created_at", DateTime(timezone=True)),
)
OLD_VERSIONS = table(
    "orb_versions",
    *(column(name, String()) for name in ("version", "source", "digest")),
    column("id", Uuid()),
    column("orb_id", Uuid()),
    column("created_at", DateTime(timezone=True)),
)


def test_orbs_of_plain_string_namespaces_move_into_namespace_rows_and_back(empty_database_url: str) -> None:
    """0012: each distinct `orbs.namespace` becomes an `orb_namespaces` row owned by no organization."""
    upgrade(empty_database_url, "0008")
    engine = create_engine(sync_url(empty_database_url))
    now = datetime.now(UTC)
    orbs = {("circleci", "node"): uuid.uuid4(), ("circleci", "go"): uuid.uuid4(), ("acme", "tools"): uuid.uuid4()}
    try:
        with engine.begin() as conn:
            for (namespace, name), orb_id in orbs.items():
                conn.execute(insert(OLD_ORBS).values(id=orb_id, namespace=namespace, name=name, created_at=now))
                conn.execute(
                    insert(OLD_VERSIONS).values(
                        id=uuid.uuid4(),
                        orb_id=orb_id,
                        version="1.0.0",
                        source="version: 2.1",
                        digest="d",
                        created_at=now,
                    )
                )
        upgrade(empty_database_url)
        with engine.connect() as conn:
            namespaces = dict(conn.execute(text("SELECT name, organization_id FROM orb_namespaces")).all())
            migrated = conn.execute(
                text(
                    "SELECT n.name, o.name, o.is_private, o.listed, count(v.id) FROM orbs o"
                    " JOIN orb_namespaces n ON n.id = o.namespace_id JOIN orb_versions v ON v.orb_id = o.id"
                    " GROUP BY n.name, o.name, o.is_private, o.listed ORDER BY n.name, o.name"
                )
            ).all()
        assert namespaces == {"acme": None, "circleci": None}
        assert [tuple(row) for row in migrated] == [
            ("acme", "tools", False, True, 1),
            ("circleci", "go", False, True, 1),
            ("circleci", "node", False, True, 1),
        ]

        downgrade(empty_database_url, "0008")
        with engine.connect() as conn:
            back = conn.execute(select(OLD_ORBS.c.id, OLD_ORBS.c.namespace, OLD_ORBS.c.name)).all()
        assert {(ns, name): orb_id for orb_id, ns, name in back} == orbs
    finally:
        engine.dispose()
