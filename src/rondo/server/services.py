"""The services an app instance uses, built once from settings by `rondo.server.app.build_services`."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from rondo.engine.accounts import Accounts
from rondo.engine.agents import AgentService
from rondo.engine.contexts import ContextService
from rondo.engine.groups import GroupService
from rondo.engine.janitor import Janitor
from rondo.engine.job_storage import JobStorage
from rondo.engine.orb_catalog import OrbCatalog
from rondo.engine.orbs import OrbRegistry
from rondo.engine.organizations import Memberships
from rondo.engine.output import OutputService
from rondo.engine.pipelines import PipelineService
from rondo.engine.project_env import ProjectEnvVars
from rondo.engine.project_tokens import ProjectTokens
from rondo.engine.projects import ProjectService
from rondo.engine.ref_watcher import RefWatcher
from rondo.engine.schedules import ScheduleService
from rondo.engine.ssh_keys import ProjectSshKeys
from rondo.engine.system_settings import SystemSettings
from rondo.engine.users import UserService
from rondo.engine.wakeup import Wakeup
from rondo.engine.webhooks import WebhookService
from rondo.engine.workflow_actions import WorkflowActions
from rondo.objects import ObjectStore
from rondo.ops.webhook_sender import WebhookSender
from rondo.secrets.envelope import SecretBox
from rondo.settings import Settings
from rondo.store.db import Database


@dataclass
class Services:
    settings: Settings
    server_key: bytes
    db: Database
    objects: ObjectStore
    accounts: Accounts
    wakeup: Wakeup
    pipelines: PipelineService
    projects: ProjectService
    agents: AgentService
    output: OutputService
    ref_watcher: RefWatcher
    workflow_actions: WorkflowActions
    orbs: OrbRegistry
    orb_catalog: OrbCatalog
    memberships: Memberships
    schedules: ScheduleService
    secret_box: SecretBox
    project_env: ProjectEnvVars
    project_tokens: ProjectTokens
    ssh_keys: ProjectSshKeys
    contexts: ContextService
    groups: GroupService
    users: UserService
    system_settings: SystemSettings
    storage: JobStorage
    janitor: Janitor
    webhooks: WebhookService
    webhook_sender: WebhookSender


def services(request: Request) -> Services:
    """FastAPI dependency: the app's services."""
    svc: Services = request.app.state.services
    return svc
