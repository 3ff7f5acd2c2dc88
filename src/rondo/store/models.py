"""The tables. One class per table; names are CircleCI's words (pipeline, workflow, job, task, step)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
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
    """A user's personal API token or an agent token; only an HMAC digest of the value is kept."""

    __tablename__ = "api_tokens"
    id: Mapped[uuid.UUID] = _id()
    kind: Mapped[str] = mapped_column(String(20))  # user | agent
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), index=True)
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


class Orb(Base):
    """An orb in the private registry, `namespace/name`; its published versions are `OrbVersion` rows."""

    __tablename__ = "orbs"
    __table_args__ = (UniqueConstraint("namespace", "name"),)
    id: Mapped[uuid.UUID] = _id()
    namespace: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = _created()


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
