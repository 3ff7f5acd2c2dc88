"""The tables. One class per table; names are CircleCI's words (pipeline, workflow, job, task, step)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from rondo.store.types import UtcDateTime, utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UtcDateTime, dict[str, Any]: JSON, list[Any]: JSON}


def _id() -> Mapped[uuid.UUID]:
    return mapped_column(Uuid, primary_key=True, default=uuid.uuid4)


def _created() -> Mapped[datetime]:
    return mapped_column(UtcDateTime, default=utcnow, nullable=False)


class Organization(Base):
    __tablename__ = "organizations"
    id: Mapped[uuid.UUID] = _id()
    slug: Mapped[str] = mapped_column(String(300), unique=True)  # gh/org
    name: Mapped[str] = mapped_column(String(200))
    vcs: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = _created()


class Project(Base):
    __tablename__ = "projects"
    id: Mapped[uuid.UUID] = _id()
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    slug: Mapped[str] = mapped_column(String(500), unique=True)  # gh/org/repo
    name: Mapped[str] = mapped_column(String(200))
    vcs_url: Mapped[str] = mapped_column(Text)
    default_branch: Mapped[str | None] = mapped_column(String(255))
    last_pipeline_number: Mapped[int] = mapped_column(Integer, default=0)
    last_job_number: Mapped[int] = mapped_column(Integer, default=0)
    # CircleCI's advanced settings (`GET/PATCH /project/{slug}/settings`): build_fork_prs, set_github_status, ...
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = _created()


class ProjectRef(Base):
    """The last seen commit of each branch and tag of a followed repository."""

    __tablename__ = "project_refs"
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id"), primary_key=True)
    ref: Mapped[str] = mapped_column(String(500), primary_key=True)
    sha: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = _created()


class User(Base):
    __tablename__ = "users"
    id: Mapped[uuid.UUID] = _id()
    login: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    suspended: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = _created()


class ApiToken(Base):
    """A user's personal API token, a project API token or an agent token; only an HMAC digest is kept."""

    __tablename__ = "api_tokens"
    id: Mapped[uuid.UUID] = _id()
    kind: Mapped[str] = mapped_column(String(20))  # user | project | agent
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), index=True)  # a project token's maker
    project_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("projects.id"), index=True)  # project tokens
    scope: Mapped[str | None] = mapped_column(String(20))  # project tokens: status | view-builds | all
    label: Mapped[str] = mapped_column(String(200))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    display: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = _created()
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class Pipeline(Base):
    __tablename__ = "pipelines"
    __table_args__ = (UniqueConstraint("project_id", "number"),)
    id: Mapped[uuid.UUID] = _id()
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(20))
    trigger_type: Mapped[str] = mapped_column(String(40))  # webhook | api | scheduled_pipeline | explicit
    trigger_actor: Mapped[str] = mapped_column(String(200))
    branch: Mapped[str | None] = mapped_column(String(255))
    tag: Mapped[str | None] = mapped_column(String(255))
    revision: Mapped[str | None] = mapped_column(String(64))
    vcs_url: Mapped[str] = mapped_column(Text)
    commit_subject: Mapped[str | None] = mapped_column(Text)
    commit_body: Mapped[str | None] = mapped_column(Text)
    # The commit's people, for outbound webhooks' `vcs.commit` (null for pipelines made before 0009).
    commit_author_name: Mapped[str | None] = mapped_column(Text)
    commit_author_email: Mapped[str | None] = mapped_column(Text)
    commit_authored_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    commit_committer_name: Mapped[str | None] = mapped_column(Text)
    commit_committer_email: Mapped[str | None] = mapped_column(Text)
    commit_committed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    errors: Mapped[list[Any]] = mapped_column(JSON, default=list)
    config_source: Mapped[str | None] = mapped_column(Text)
    compiled_config: Mapped[str | None] = mapped_column(Text)  # what `circleci config process` prints
    setup_config_source: Mapped[str | None] = mapped_column(Text)  # for continued setup pipelines
    compiled_setup_config: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _created()


class Workflow(Base):
    __tablename__ = "workflows"
    id: Mapped[uuid.UUID] = _id()
    pipeline_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("pipelines.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(20))
    tag: Mapped[str | None] = mapped_column(String(20))  # "setup" for a setup workflow, as CircleCI shows
    rerun_of_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("workflows.id"))  # the original
    auto_rerun: Mapped[int] = mapped_column(Integer, default=0)  # which automatic rerun this is (0: none)
    max_auto_reruns: Mapped[int] = mapped_column(Integer, default=0)
    started_by: Mapped[str | None] = mapped_column(String(200))
    canceled_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = _created()
    stopped_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (UniqueConstraint("project_id", "number"),)
    id: Mapped[uuid.UUID] = _id()
    workflow_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workflows.id"), index=True)
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id"))
    name: Mapped[str] = mapped_column(String(255))  # the workflow's name for it
    number: Mapped[int | None] = mapped_column(Integer)  # given when the job is queued, as CircleCI does
    type: Mapped[str] = mapped_column(String(20))  # build | approval
    status: Mapped[str] = mapped_column(String(30))
    requires: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # job name -> accepted statuses
    definition: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the compiled job
    parallelism: Mapped[int] = mapped_column(Integer, default=1)
    executor_type: Mapped[str] = mapped_column(String(20))
    resource_class: Mapped[str] = mapped_column(String(100))
    contexts: Mapped[list[Any]] = mapped_column(JSON, default=list)
    approved_by: Mapped[str | None] = mapped_column(String(200))  # for approval jobs
    # Jobs with the same serial group in an organization run one at a time (CONFIG-SPEC §10.10).
    serial_group: Mapped[str | None] = mapped_column(String(512), index=True)
    message: Mapped[str | None] = mapped_column(Text)  # why it did not run, e.g. an unauthorized context
    created_at: Mapped[datetime] = _created()
    queued_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    stopped_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Task(Base):
    """One parallel run of a job (`parallelism: N` makes N tasks), claimed and run by one agent."""

    __tablename__ = "tasks"
    __table_args__ = (
        UniqueConstraint("job_id", "node_index"),
        Index("ix_tasks_status_queued_at", "status", "queued_at"),
    )
    id: Mapped[uuid.UUID] = _id()
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id"), index=True)
    node_index: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(30))
    executor_type: Mapped[str] = mapped_column(String(20))  # what an agent must offer to claim it
    resource_class: Mapped[str] = mapped_column(String(100))
    agent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("agents.id"), index=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    last_event_seq: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    retries: Mapped[int] = mapped_column(Integer, default=0)  # times requeued after its agent was lost
    message: Mapped[str | None] = mapped_column(Text)
    queued_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    stopped_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Step(Base):
    __tablename__ = "steps"
    __table_args__ = (UniqueConstraint("task_id", "index"),)
    id: Mapped[uuid.UUID] = _id()
    task_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tasks.id"), index=True)
    index: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(30))
    exit_code: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    stopped_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    output_key: Mapped[str | None] = mapped_column(Text)  # object key once compacted
    output_bytes: Mapped[int] = mapped_column(BigInteger, default=0)


class OutputChunk(Base):
    """Live step output while a step runs; compacted into one object when the step ends."""

    __tablename__ = "output_chunks"
    __table_args__ = (Index("ix_output_chunks_task_step", "task_id", "step_index", "id"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    task_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tasks.id"))
    step_index: Mapped[int] = mapped_column(Integer)
    data: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = _created()


class Agent(Base):
    __tablename__ = "agents"
    id: Mapped[uuid.UUID] = _id()
    name: Mapped[str] = mapped_column(String(200))
    token_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("api_tokens.id"))
    resource_classes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    executors: Mapped[list[Any]] = mapped_column(JSON, default=list)
    capacity: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    version: Mapped[str] = mapped_column(String(50), default="")
    drain: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(20), default="ready")  # ready | down
    registered_at: Mapped[datetime] = _created()
    last_seen_at: Mapped[datetime] = _created()


class OrganizationMember(Base):
    """A user who belongs to an organization. An organization with no members recorded is open to every user."""

    __tablename__ = "organization_members"
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), primary_key=True, index=True)
    added_at: Mapped[datetime] = _created()


class OrbNamespace(Base):
    """A registry namespace (`circleci` in `circleci/node`), owned by one organization or, imported, by none."""

    __tablename__ = "orb_namespaces"
    id: Mapped[uuid.UUID] = _id()
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # An organization has at most one namespace, as on CircleCI; imported namespaces belong to none.
    organization_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organizations.id"), unique=True)
    created_at: Mapped[datetime] = _created()


class Orb(Base):
    """An orb in the private registry, `namespace/name`; its published versions are `OrbVersion` rows."""

    __tablename__ = "orbs"
    __table_args__ = (UniqueConstraint("namespace_id", "name"),)
    id: Mapped[uuid.UUID] = _id()
    namespace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orb_namespaces.id"))
    name: Mapped[str] = mapped_column(String(200))
    is_private: Mapped[bool] = mapped_column(Boolean, default=False)  # seen only by its organization's members
    listed: Mapped[bool] = mapped_column(Boolean, default=True)  # shown in `orb list` (`orb unlist` clears it)
    created_at: Mapped[datetime] = _created()


class OrbCategorization(Base):
    """An orb filed under one of the registry's categories (`rondo.domain.orb_categories`)."""

    __tablename__ = "orb_categorizations"
    orb_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orbs.id"), primary_key=True)
    category_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    added_at: Mapped[datetime] = _created()


class OrbVersion(Base):
    """One published version of an orb: `X.Y.Z` (immutable) or `dev:label` (overwritable), packed YAML."""

    __tablename__ = "orb_versions"
    __table_args__ = (UniqueConstraint("orb_id", "version"),)
    id: Mapped[uuid.UUID] = _id()
    orb_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orbs.id"))
    version: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(Text)
    digest: Mapped[str] = mapped_column(String(64))  # sha256 hex of the UTF-8 source
    created_at: Mapped[datetime] = _created()
    published_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))


class Schedule(Base):
    """A schedule trigger: a timetable on which a project gets pipelines with fixed parameters."""

    __tablename__ = "schedules"
    __table_args__ = (UniqueConstraint("project_id", "name"),)
    id: Mapped[uuid.UUID] = _id()
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    timetable: Mapped[dict[str, Any]] = mapped_column(JSON)  # as the API takes it: per-hour, hours-of-day, ...
    attribution_actor: Mapped[str] = mapped_column(String(20))  # current | system
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # with branch or tag
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))  # the user "current" means
    actor_login: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _created()
    next_run_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    last_run_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class SealedEnvVar:
    """The columns of a stored environment variable: its name and its value sealed by envelope encryption."""

    name: Mapped[str] = mapped_column(String(256))
    masked_value: Mapped[str] = mapped_column(String(16))  # what the API shows: xxxx + the last 4 characters
    wrapped_dek: Mapped[str] = mapped_column(Text)
    ciphertext: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _created()


class ProjectEnvVar(SealedEnvVar, Base):
    """A project environment variable; the value is sealed (envelope encryption), never stored in clear."""

    __tablename__ = "project_env_vars"
    __table_args__ = (UniqueConstraint("project_id", "name"),)
    id: Mapped[uuid.UUID] = _id()
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id"), index=True)


class CheckoutKey(Base):
    """A project's checkout key (CircleCI's deploy key): made by Rondo, the private half sealed.

    The newest key of a project is its preferred one, the key jobs check out with.
    """

    __tablename__ = "checkout_keys"
    __table_args__ = (UniqueConstraint("project_id", "fingerprint"),)
    id: Mapped[uuid.UUID] = _id()
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id"), index=True)
    type: Mapped[str] = mapped_column(String(30))  # deploy-key
    public_key: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(64))  # MD5, colon-hex
    sha256_fingerprint: Mapped[str] = mapped_column(String(64))
    login: Mapped[str | None] = mapped_column(String(200))  # a user key's VCS login (none for deploy keys)
    wrapped_dek: Mapped[str] = mapped_column(Text)
    ciphertext: Mapped[str] = mapped_column(Text)  # the private key, sealed
    created_at: Mapped[datetime] = _created()


class ProjectSshKey(Base):
    """An additional SSH key of a project, for a hostname ("" for every host); `add_ssh_keys` installs it."""

    __tablename__ = "project_ssh_keys"
    __table_args__ = (UniqueConstraint("project_id", "hostname", "fingerprint"),)
    id: Mapped[uuid.UUID] = _id()
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id"), index=True)
    hostname: Mapped[str] = mapped_column(String(255), default="")
    public_key: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(64))  # MD5, colon-hex
    sha256_fingerprint: Mapped[str] = mapped_column(String(64))
    key_type: Mapped[str] = mapped_column(String(20))  # rsa | ecdsa | ed25519
    wrapped_dek: Mapped[str] = mapped_column(Text)
    ciphertext: Mapped[str] = mapped_column(Text)  # the private key, sealed
    created_at: Mapped[datetime] = _created()


class Context(Base):
    """A named set of environment variables an organization shares between projects' jobs."""

    __tablename__ = "contexts"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)
    id: Mapped[uuid.UUID] = _id()
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = _created()


class ContextEnvVar(SealedEnvVar, Base):
    """A context's environment variable, sealed like a project's."""

    __tablename__ = "context_env_vars"
    __table_args__ = (UniqueConstraint("context_id", "name"),)
    id: Mapped[uuid.UUID] = _id()
    context_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contexts.id"), index=True)


class ContextRestriction(Base):
    """Who may use a context: `group` (a security group's id) or `project` (a project's id)."""

    __tablename__ = "context_restrictions"
    __table_args__ = (UniqueConstraint("context_id", "restriction_type", "restriction_value"),)
    id: Mapped[uuid.UUID] = _id()
    context_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contexts.id"), index=True)
    restriction_type: Mapped[str] = mapped_column(String(20))
    restriction_value: Mapped[str] = mapped_column(String(500))
    name: Mapped[str | None] = mapped_column(String(500))  # the group's or project's name, for people
    created_at: Mapped[datetime] = _created()


class Group(Base):
    """A security group of an organization's users; restricted contexts name groups."""

    __tablename__ = "groups"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)
    id: Mapped[uuid.UUID] = _id()
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = _created()


class GroupMember(Base):
    __tablename__ = "group_members"
    group_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("groups.id"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), primary_key=True, index=True)
    added_at: Mapped[datetime] = _created()


class TaskSecrets(Base):
    """The sealed project and context variables a queued task will get, copied at queue time (still sealed).

    Opened only when an agent claims the task; deleted when the task finishes.
    """

    __tablename__ = "task_secrets"
    task_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tasks.id"), primary_key=True)
    entries: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [{name, aad, wrapped_dek, ciphertext}]
    created_at: Mapped[datetime] = _created()


class AuditEvent(Base):
    """One audit log event, in the fields of CircleCI Server's audit log. Append-only."""

    __tablename__ = "audit_events"
    id: Mapped[uuid.UUID] = _id()
    version: Mapped[int] = mapped_column(Integer, default=1)
    action: Mapped[str] = mapped_column(String(100), index=True)
    actor: Mapped[dict[str, Any]] = mapped_column(JSON)
    target: Mapped[dict[str, Any]] = mapped_column(JSON)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    scope: Mapped[dict[str, Any]] = mapped_column(JSON)
    success: Mapped[bool] = mapped_column(Boolean, default=True)
    request: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class SystemSetting(Base):
    """A setting administrators change at run time (System Settings), e.g. suspend_new_users."""

    __tablename__ = "system_settings"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON, nullable=False)
    updated_at: Mapped[datetime] = _created()


class Cache(Base):
    """A saved cache: an immutable key of a project and its archive (.tar.zst) in object storage.

    The row is made when an agent is given the upload URL (`committed_at` empty, invisible to
    restores) so a second saver of the same key skips; the janitor removes uploads never committed.
    """

    __tablename__ = "caches"
    __table_args__ = (
        UniqueConstraint("project_id", "key"),
        Index("ix_caches_project_id_created_at", "project_id", "created_at"),
    )
    id: Mapped[uuid.UUID] = _id()
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id"))
    key: Mapped[str] = mapped_column(String(900))
    object_key: Mapped[str] = mapped_column(Text)
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    job_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("jobs.id"))  # the job that saved it
    created_at: Mapped[datetime] = _created()
    committed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class WorkspaceLayer(Base):
    """What one job persisted to its workflow's workspace (`persist_to_workspace`): one archive.

    `workspace_id` is the original workflow's id, so reruns see and extend the same workspace.
    """

    __tablename__ = "workspace_layers"
    __table_args__ = (Index("ix_workspace_layers_workspace_id_job_name", "workspace_id", "job_name"),)
    id: Mapped[uuid.UUID] = _id()
    workspace_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    workflow_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workflows.id"))
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id"))
    job_name: Mapped[str] = mapped_column(String(255))
    node_index: Mapped[int] = mapped_column(Integer, default=0)
    object_key: Mapped[str] = mapped_column(Text)
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = _created()
    committed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Artifact(Base):
    """One file a job stored with `store_artifacts`; listed once its upload is committed."""

    __tablename__ = "artifacts"
    __table_args__ = (Index("ix_artifacts_job_id_node_index", "job_id", "node_index"),)
    id: Mapped[uuid.UUID] = _id()
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id"))
    node_index: Mapped[int] = mapped_column(Integer, default=0)
    path: Mapped[str] = mapped_column(Text)
    object_key: Mapped[str] = mapped_column(Text)
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    content_type: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = _created()
    committed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class JobTestResult(Base):
    """One test case a job reported with `store_test_results` (parsed from JUnit XML)."""

    __tablename__ = "test_results"
    __table_args__ = (Index("ix_test_results_job_id_node_index", "job_id", "node_index"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id"))
    node_index: Mapped[int] = mapped_column(Integer, default=0)
    classname: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    file: Mapped[str | None] = mapped_column(Text)
    result: Mapped[str] = mapped_column(String(20))  # success | failure | error | skipped
    run_time: Mapped[float] = mapped_column(Float, default=0.0)  # seconds
    message: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = _created()


class Webhook(Base):
    """An outbound webhook of a project: where to POST which events; the signing secret is sealed."""

    __tablename__ = "webhooks"
    id: Mapped[uuid.UUID] = _id()
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id"), index=True)  # scope {type: project}
    name: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[list[Any]] = mapped_column(JSON)  # workflow-completed, job-completed
    verify_tls: Mapped[bool] = mapped_column(Boolean, default=True)
    masked_secret: Mapped[str] = mapped_column(String(16))  # what the API shows: xxxx + the last 4 characters
    wrapped_dek: Mapped[str] = mapped_column(Text)
    ciphertext: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _created()


class WebhookDelivery(Base):
    """The outbox: one event for one webhook, written with the status change that caused it, sent later.

    `payload` is the exact body sent (and signed) on every attempt. `next_attempt_at` is when the sender
    may take it next; a sender that takes it pushes that forward by a lease, so a server that dies
    mid-send leaves it to be sent again. `attempt_log` keeps each attempt's time, status code or error.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),)
    id: Mapped[uuid.UUID] = _id()  # also the Circle-Delivery-Id header
    webhook_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhooks.id"), index=True)
    event_type: Mapped[str] = mapped_column(String(40))
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid)  # the payload's `id`
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    attempt_log: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [{at, status_code, error, ms}]
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = _created()
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # delivered, or given up
