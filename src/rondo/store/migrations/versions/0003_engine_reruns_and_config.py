"""compiled configs on pipelines; workflow tags, reruns and actors; job contexts and approvals

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pipelines", schema=None) as batch_op:
        batch_op.add_column(sa.Column("compiled_config", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("setup_config_source", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("compiled_setup_config", sa.Text(), nullable=True))
    with op.batch_alter_table("workflows", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tag", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("rerun_of_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("auto_rerun", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("max_auto_reruns", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("started_by", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("canceled_by", sa.String(length=200), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_workflows_rerun_of_id_workflows"), "workflows", ["rerun_of_id"], ["id"]
        )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("contexts", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("approved_by", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("approved_by")
        batch_op.drop_column("contexts")
    with op.batch_alter_table("workflows", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_workflows_rerun_of_id_workflows"), type_="foreignkey")
        batch_op.drop_column("canceled_by")
        batch_op.drop_column("started_by")
        batch_op.drop_column("max_auto_reruns")
        batch_op.drop_column("auto_rerun")
        batch_op.drop_column("rerun_of_id")
        batch_op.drop_column("tag")
    with op.batch_alter_table("pipelines", schema=None) as batch_op:
        batch_op.drop_column("compiled_setup_config")
        batch_op.drop_column("setup_config_source")
        batch_op.drop_column("compiled_config")
