"""secrets, contexts and the audit log: project and context environment variables (sealed), context
restrictions, security groups, queued tasks' sealed variables, audit events (append-only), system settings,
project advanced settings and the reason a job did not run

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_REFUSE = "audit events are append-only"


def _append_only_audit_events() -> None:
    """Refuse UPDATE and DELETE of audit events in the database itself, not only in Rondo's code.

    (A later SQLite batch migration that recreates audit_events must create these triggers again.)
    """
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{_REFUSE}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events "
                f"BEGIN SELECT RAISE(ABORT, '{_REFUSE}'); END"
            )


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("actor", sa.JSON(), nullable=False),
        sa.Column("target", sa.JSON(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("scope", sa.JSON(), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("request", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_events_action"), ["action"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_events_occurred_at"), ["occurred_at"], unique=False)
    _append_only_audit_events()

    op.create_table(
        "system_settings",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_system_settings")),
    )
    op.create_table(
        "contexts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_contexts_organization_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contexts")),
        sa.UniqueConstraint("organization_id", "name", name=op.f("uq_contexts_organization_id")),
    )
    with op.batch_alter_table("contexts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contexts_organization_id"), ["organization_id"], unique=False)

    op.create_table(
        "groups",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_groups_organization_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_groups")),
        sa.UniqueConstraint("organization_id", "name", name=op.f("uq_groups_organization_id")),
    )
    with op.batch_alter_table("groups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_groups_organization_id"), ["organization_id"], unique=False)

    op.create_table(
        "context_env_vars",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("context_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("masked_value", sa.String(length=16), nullable=False),
        sa.Column("wrapped_dek", sa.Text(), nullable=False),
        sa.Column("ciphertext", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["context_id"], ["contexts.id"], name=op.f("fk_context_env_vars_context_id_contexts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_context_env_vars")),
        sa.UniqueConstraint("context_id", "name", name=op.f("uq_context_env_vars_context_id")),
    )
    with op.batch_alter_table("context_env_vars", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_context_env_vars_context_id"), ["context_id"], unique=False)

    op.create_table(
        "context_restrictions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("context_id", sa.Uuid(), nullable=False),
        sa.Column("restriction_type", sa.String(length=20), nullable=False),
        sa.Column("restriction_value", sa.String(length=500), nullable=False),
        sa.Column("name", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["context_id"], ["contexts.id"], name=op.f("fk_context_restrictions_context_id_contexts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_context_restrictions")),
        sa.UniqueConstraint(
            "context_id", "restriction_type", "restriction_value", name=op.f("uq_context_restrictions_context_id")
        ),
    )
    with op.batch_alter_table("context_restrictions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_context_restrictions_context_id"), ["context_id"], unique=False)

    op.create_table(
        "group_members",
        sa.Column("group_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"], name=op.f("fk_group_members_group_id_groups")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_group_members_user_id_users")),
        sa.PrimaryKeyConstraint("group_id", "user_id", name=op.f("pk_group_members")),
    )
    with op.batch_alter_table("group_members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_group_members_user_id"), ["user_id"], unique=False)

    op.create_table(
        "project_env_vars",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("masked_value", sa.String(length=16), nullable=False),
        sa.Column("wrapped_dek", sa.Text(), nullable=False),
        sa.Column("ciphertext", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name=op.f("fk_project_env_vars_project_id_projects")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_project_env_vars")),
        sa.UniqueConstraint("project_id", "name", name=op.f("uq_project_env_vars_project_id")),
    )
    with op.batch_alter_table("project_env_vars", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_project_env_vars_project_id"), ["project_id"], unique=False)

    op.create_table(
        "task_secrets",
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("entries", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"], name=op.f("fk_task_secrets_task_id_tasks")),
        sa.PrimaryKeyConstraint("task_id", name=op.f("pk_task_secrets")),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("message", sa.Text(), nullable=True))

    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.add_column(sa.Column("settings", sa.JSON(), nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_column("settings")

    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("message")

    op.drop_table("task_secrets")
    with op.batch_alter_table("project_env_vars", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_project_env_vars_project_id"))

    op.drop_table("project_env_vars")
    with op.batch_alter_table("group_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_group_members_user_id"))

    op.drop_table("group_members")
    with op.batch_alter_table("context_restrictions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_context_restrictions_context_id"))

    op.drop_table("context_restrictions")
    with op.batch_alter_table("context_env_vars", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_context_env_vars_context_id"))

    op.drop_table("context_env_vars")
    with op.batch_alter_table("groups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_groups_organization_id"))

    op.drop_table("groups")
    with op.batch_alter_table("contexts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contexts_organization_id"))

    op.drop_table("contexts")
    op.drop_table("system_settings")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_events_occurred_at"))
        batch_op.drop_index(batch_op.f("ix_audit_events_action"))

    op.drop_table("audit_events")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")
