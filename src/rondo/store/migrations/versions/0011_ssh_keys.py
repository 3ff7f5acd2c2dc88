"""SSH keys: projects' checkout keys and additional SSH keys, their private halves sealed

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _key_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("sha256_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("wrapped_dek", sa.Text(), nullable=False),
        sa.Column("ciphertext", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "checkout_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=30), nullable=False),
        sa.Column("login", sa.String(length=200), nullable=True),
        *_key_columns(),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name=op.f("fk_checkout_keys_project_id_projects")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkout_keys")),
        sa.UniqueConstraint("project_id", "fingerprint", name=op.f("uq_checkout_keys_project_id")),
    )
    with op.batch_alter_table("checkout_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_checkout_keys_project_id"), ["project_id"], unique=False)

    op.create_table(
        "project_ssh_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("key_type", sa.String(length=20), nullable=False),
        *_key_columns(),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name=op.f("fk_project_ssh_keys_project_id_projects")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_project_ssh_keys")),
        sa.UniqueConstraint("project_id", "hostname", "fingerprint", name=op.f("uq_project_ssh_keys_project_id")),
    )
    with op.batch_alter_table("project_ssh_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_project_ssh_keys_project_id"), ["project_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("project_ssh_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_project_ssh_keys_project_id"))
    op.drop_table("project_ssh_keys")
    with op.batch_alter_table("checkout_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_checkout_keys_project_id"))
    op.drop_table("checkout_keys")
