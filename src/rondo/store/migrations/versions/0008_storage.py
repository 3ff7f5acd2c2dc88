"""object storage: caches, workspace layers, artifacts and test results

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _tz() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "caches",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=900), nullable=False),
        sa.Column("object_key", sa.Text(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", _tz(), nullable=False),
        sa.Column("committed_at", _tz(), nullable=True),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_caches_job_id_jobs")),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name=op.f("fk_caches_project_id_projects")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_caches")),
        sa.UniqueConstraint("project_id", "key", name=op.f("uq_caches_project_id")),
    )
    with op.batch_alter_table("caches", schema=None) as batch_op:
        batch_op.create_index("ix_caches_project_id_created_at", ["project_id", "created_at"], unique=False)

    op.create_table(
        "workspace_layers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("workflow_id", sa.Uuid(), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("job_name", sa.String(length=255), nullable=False),
        sa.Column("node_index", sa.Integer(), nullable=False),
        sa.Column("object_key", sa.Text(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("created_at", _tz(), nullable=False),
        sa.Column("committed_at", _tz(), nullable=True),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_workspace_layers_job_id_jobs")),
        sa.ForeignKeyConstraint(
            ["workflow_id"], ["workflows.id"], name=op.f("fk_workspace_layers_workflow_id_workflows")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workspace_layers")),
    )
    with op.batch_alter_table("workspace_layers", schema=None) as batch_op:
        batch_op.create_index("ix_workspace_layers_workspace_id_job_name", ["workspace_id", "job_name"], unique=False)

    op.create_table(
        "artifacts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("node_index", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("object_key", sa.Text(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("content_type", sa.String(length=200), nullable=False),
        sa.Column("created_at", _tz(), nullable=False),
        sa.Column("committed_at", _tz(), nullable=True),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_artifacts_job_id_jobs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_artifacts")),
    )
    with op.batch_alter_table("artifacts", schema=None) as batch_op:
        batch_op.create_index("ix_artifacts_job_id_node_index", ["job_id", "node_index"], unique=False)

    op.create_table(
        "test_results",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("node_index", sa.Integer(), nullable=False),
        sa.Column("classname", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("file", sa.Text(), nullable=True),
        sa.Column("result", sa.String(length=20), nullable=False),
        sa.Column("run_time", sa.Float(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("created_at", _tz(), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_test_results_job_id_jobs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_test_results")),
    )
    with op.batch_alter_table("test_results", schema=None) as batch_op:
        batch_op.create_index("ix_test_results_job_id_node_index", ["job_id", "node_index"], unique=False)


def downgrade() -> None:
    for table, index in (
        ("test_results", "ix_test_results_job_id_node_index"),
        ("artifacts", "ix_artifacts_job_id_node_index"),
        ("workspace_layers", "ix_workspace_layers_workspace_id_job_name"),
        ("caches", "ix_caches_project_id_created_at"),
    ):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(index)
        op.drop_table(table)
