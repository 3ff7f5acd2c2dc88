"""orb namespaces owned by organizations, private and unlisted orbs, categories, organization members

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-25

Every orb's namespace, until now a plain string, becomes a row of `orb_namespaces` owned by no
organization (as imported namespaces are); `orbs.namespace` gives way to `orbs.namespace_id`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def _tz() -> sa.DateTime:
    return sa.DateTime(timezone=True)


_orbs = sa.table(
    "orbs",
    sa.column("id", sa.Uuid()),
    sa.column("namespace", sa.String(200)),
    sa.column("namespace_id", sa.Uuid()),
)
_namespaces = sa.table(
    "orb_namespaces",
    sa.column("id", sa.Uuid()),
    sa.column("name", sa.String(200)),
    sa.column("organization_id", sa.Uuid()),
    sa.column("created_at", _tz()),
)


def upgrade() -> None:
    op.create_table(
        "organization_members",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("added_at", _tz(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_organization_members_organization_id_organizations"),
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_organization_members_user_id_users")),
        sa.PrimaryKeyConstraint("organization_id", "user_id", name=op.f("pk_organization_members")),
    )
    with op.batch_alter_table("organization_members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_organization_members_user_id"), ["user_id"], unique=False)

    op.create_table(
        "orb_namespaces",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", _tz(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_orb_namespaces_organization_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orb_namespaces")),
        sa.UniqueConstraint("name", name=op.f("uq_orb_namespaces_name")),
        sa.UniqueConstraint("organization_id", name=op.f("uq_orb_namespaces_organization_id")),
    )

    bind = op.get_bind()
    names = sorted({row[0] for row in bind.execute(sa.select(_orbs.c.namespace))})
    with op.batch_alter_table("orbs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("namespace_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("is_private", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("listed", sa.Boolean(), nullable=False, server_default=sa.true()))
    now = datetime.now(UTC)
    for name in names:
        namespace_id = uuid.uuid4()
        bind.execute(sa.insert(_namespaces).values(id=namespace_id, name=name, organization_id=None, created_at=now))
        bind.execute(sa.update(_orbs).where(_orbs.c.namespace == name).values(namespace_id=namespace_id))
    with op.batch_alter_table("orbs", schema=None) as batch_op:
        batch_op.alter_column("namespace_id", existing_type=sa.Uuid(), nullable=False)
        batch_op.drop_constraint("uq_orbs_namespace", type_="unique")
        batch_op.drop_column("namespace")
        batch_op.create_unique_constraint(batch_op.f("uq_orbs_namespace_id"), ["namespace_id", "name"])
        batch_op.create_foreign_key(
            batch_op.f("fk_orbs_namespace_id_orb_namespaces"), "orb_namespaces", ["namespace_id"], ["id"]
        )

    op.create_table(
        "orb_categorizations",
        sa.Column("orb_id", sa.Uuid(), nullable=False),
        sa.Column("category_id", sa.Uuid(), nullable=False),
        sa.Column("added_at", _tz(), nullable=False),
        sa.ForeignKeyConstraint(["orb_id"], ["orbs.id"], name=op.f("fk_orb_categorizations_orb_id_orbs")),
        sa.PrimaryKeyConstraint("orb_id", "category_id", name=op.f("pk_orb_categorizations")),
    )


def downgrade() -> None:
    op.drop_table("orb_categorizations")
    with op.batch_alter_table("orbs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("namespace", sa.String(length=200), nullable=True))
    name_of = sa.select(_namespaces.c.name).where(_namespaces.c.id == _orbs.c.namespace_id).scalar_subquery()
    op.get_bind().execute(sa.update(_orbs).values(namespace=name_of))
    with op.batch_alter_table("orbs", schema=None) as batch_op:
        batch_op.drop_constraint("fk_orbs_namespace_id_orb_namespaces", type_="foreignkey")
        batch_op.drop_constraint("uq_orbs_namespace_id", type_="unique")
        batch_op.drop_column("namespace_id")
        batch_op.drop_column("is_private")
        batch_op.drop_column("listed")
        batch_op.alter_column("namespace", existing_type=sa.String(length=200), nullable=False)
        batch_op.create_unique_constraint("uq_orbs_namespace", ["namespace", "name"])
    op.drop_table("orb_namespaces")
    with op.batch_alter_table("organization_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_organization_members_user_id"))
    op.drop_table("organization_members")
