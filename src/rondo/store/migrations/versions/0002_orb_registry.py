"""orb registry

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "orbs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("namespace", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orbs")),
        sa.UniqueConstraint("namespace", "name", name=op.f("uq_orbs_namespace")),
    )
    op.create_table(
        "orb_versions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("orb_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.String(length=200), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(["orb_id"], ["orbs.id"], name=op.f("fk_orb_versions_orb_id_orbs")),
        sa.ForeignKeyConstraint(["published_by"], ["users.id"], name=op.f("fk_orb_versions_published_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orb_versions")),
        sa.UniqueConstraint("orb_id", "version", name=op.f("uq_orb_versions_orb_id")),
    )


def downgrade() -> None:
    op.drop_table("orb_versions")
    op.drop_table("orbs")
