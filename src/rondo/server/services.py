"""The services an app instance uses, built once from settings by `rondo.server.app.build_services`."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from rondo.engine.accounts import Accounts
from rondo.engine.agents import AgentService
from rondo.engine.orbs import OrbRegistry
from rondo.engine.output import OutputService
from rondo.engine.pipelines import PipelineService
from rondo.engine.projects import ProjectService
from rondo.engine.ref_watcher import RefWatcher
from rondo.engine.schedules import ScheduleService
from rondo.engine.wakeup import Wakeup
from rondo.engine.workflow_actions import WorkflowActions
from rondo.objects import ObjectStore
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
    schedules: ScheduleService


def services(request: Request) -> Services:
    """FastAPI dependency: the app's services."""
    svc: Services = request.app.state.services
    return svc
