"""project API tokens: a token's project and scope

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("project_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("scope", sa.String(length=20), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_api_tokens_project_id_projects"), "projects", ["project_id"], ["id"])
        batch_op.create_index(batch_op.f("ix_api_tokens_project_id"), ["project_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_project_id"))
        batch_op.drop_constraint(batch_op.f("fk_api_tokens_project_id_projects"), type_="foreignkey")
        batch_op.drop_column("scope")
        batch_op.drop_column("project_id")
