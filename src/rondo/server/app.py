"""The app factory: the one place that builds every service from the settings and wires the routes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.middleware.sessions import SessionMiddleware

from rondo import __version__
from rondo.engine.accounts import Accounts
from rondo.engine.agents import AgentService
from rondo.engine.conductor import Conductor, ConductorSettings
from rondo.engine.contexts import ContextService
from rondo.engine.groups import GroupService
from rondo.engine.janitor import Janitor
from rondo.engine.job_storage import JobStorage, StorageSettings
from rondo.engine.orb_catalog import OrbCatalog
from rondo.engine.orbs import OrbRegistry
from rondo.engine.organizations import Memberships
from rondo.engine.output import OutputService
from rondo.engine.pipelines import PipelineService
from rondo.engine.project_env import ProjectEnvVars
from rondo.engine.project_tokens import ProjectTokens
from rondo.engine.projects import ProjectService
from rondo.engine.ref_watcher import RefWatcher
from rondo.engine.repositories import Repositories
from rondo.engine.schedules import ScheduleService
from rondo.engine.ssh_keys import ProjectSshKeys
from rondo.engine.system_settings import SystemSettings
from rondo.engine.users import UserService
from rondo.engine.wakeup import Wakeup
from rondo.engine.webhooks import WebhookService
from rondo.engine.workflow_actions import WorkflowActions
from rondo.objects import LocalObjectStore, ObjectStore, S3ObjectStore, S3Settings
from rondo.ops.health import health
from rondo.ops.webhook_outbox import WebhookOutbox
from rondo.ops.webhook_sender import SenderSettings, WebhookSender
from rondo.secrets.envelope import SecretBox
from rondo.secrets.keyring import LocalKeyring
from rondo.secrets.server_key import load_or_create_server_key
from rondo.secrets.vault_transit import VaultSettings, VaultTransit
from rondo.server.agent_api.routes import router as agent_router
from rondo.server.api_private import router as private_router
from rondo.server.api_v1.actions import router as v1_actions_router
from rondo.server.api_v1.builds import router as v1_builds_router
from rondo.server.api_v1.env_vars import router as v1_env_vars_router
from rondo.server.api_v1.me import router as v1_me_router
from rondo.server.api_v1.project_tokens import router as v1_project_tokens_router
from rondo.server.api_v1.projects import router as v1_projects_router
from rondo.server.api_v1.recent_builds import router as v1_recent_builds_router
from rondo.server.api_v1.ssh_keys import router as v1_ssh_keys_router
from rondo.server.api_v2.admin import router as admin_router
from rondo.server.api_v2.agents import router as agents_router
from rondo.server.api_v2.artifacts import router as artifacts_router
from rondo.server.api_v2.checkout_keys import router as checkout_keys_router
from rondo.server.api_v2.compile import router as compile_router
from rondo.server.api_v2.contexts import router as contexts_router
from rondo.server.api_v2.env_vars import router as env_vars_router
from rondo.server.api_v2.groups import router as groups_router
from rondo.server.api_v2.insights import router as insights_router
from rondo.server.api_v2.me import router as me_router
from rondo.server.api_v2.orbs import router as orbs_router
from rondo.server.api_v2.organization_members import router as organization_members_router
from rondo.server.api_v2.pipeline_config import router as pipeline_config_router
from rondo.server.api_v2.pipeline_definitions import router as pipeline_definitions_router
from rondo.server.api_v2.pipeline_lists import router as pipeline_lists_router
from rondo.server.api_v2.pipelines import router as pipelines_router
from rondo.server.api_v2.projects import router as projects_router
from rondo.server.api_v2.schedules import router as schedules_router
from rondo.server.api_v2.test_insights import router as test_insights_router
from rondo.server.api_v2.webhooks import router as webhooks_router
from rondo.server.api_v2.workflows import router as workflows_router
from rondo.server.errors import install_error_handlers
from rondo.server.graphql.route import router as graphql_router
from rondo.server.hooks.git import router as git_hook_router
from rondo.server.objects_route import router as objects_router
from rondo.server.services import Services
from rondo.server.ui.routes import SignInRequired
from rondo.server.ui.routes import router as ui_router
from rondo.server.ui.settings_pages import router as settings_pages_router
from rondo.settings import Settings
from rondo.store.db import Database

log = logging.getLogger(__name__)


def build_secret_box(settings: Settings) -> SecretBox:
    """The master key: Vault transit when RONDO_VAULT_URL is set, else the keyring in the data dir."""
    if settings.vault_url:
        if not settings.vault_token:
            raise ValueError("RONDO_VAULT_URL is set but RONDO_VAULT_TOKEN is empty: Vault needs a token")
        vault = VaultSettings(
            url=settings.vault_url,
            token=settings.vault_token,
            transit_path=settings.vault_transit_path,
            key_name=settings.vault_key_name,
        )
        return SecretBox(VaultTransit(vault))
    return SecretBox(LocalKeyring.in_data_dir(settings.resolved_data_dir))


def build_object_store(settings: Settings, server_key: bytes) -> ObjectStore:
    """An S3-compatible bucket when RONDO_S3_BUCKET is set, else a folder in the data dir."""
    if settings.s3_bucket:
        return S3ObjectStore(
            S3Settings(
                bucket=settings.s3_bucket,
                region=settings.s3_region,
                endpoint_url=settings.s3_endpoint,
                access_key_id=settings.s3_access_key_id,
                secret_access_key=settings.s3_secret_access_key,
            )
        )
    return LocalObjectStore(settings.resolved_data_dir / "objects", server_key, settings.resolved_public_url)


def build_services(settings: Settings) -> Services:
    data_dir = settings.resolved_data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    server_key = load_or_create_server_key(data_dir, settings.secret_key)
    db = Database(settings.resolved_database_url)
    secret_box = build_secret_box(settings)
    objects = build_object_store(settings, server_key)
    wakeup = Wakeup()
    ssh_keys = ProjectSshKeys(db, secret_box)
    repositories = Repositories(data_dir / "git-mirrors", ssh_keys.preferred_private_key)
    outbox = WebhookOutbox(settings.resolved_public_url)
    conductor = Conductor(
        ConductorSettings(
            public_url=settings.resolved_public_url,
            no_output_timeout_s=settings.no_output_timeout_s,
            max_job_time_s=settings.max_job_time_s,
            server_key=server_key,
            known_hosts_file=repositories.known_hosts,
        ),
        completions=outbox,
    )
    orbs = OrbRegistry(db)  # one instance: its sources share one cache of released versions
    pipelines = PipelineService(
        db,
        repositories,
        conductor,
        wakeup,
        orb_sources=orbs.source,
        public_url=settings.resolved_public_url,
        server_key=server_key,
    )
    projects = ProjectService(db, repositories, pipelines, ssh_keys)
    output = OutputService(db, objects)
    control = wakeup.follower()  # cancels and drains, waking agents' heartbeat long-polls
    agents = AgentService(
        db,
        conductor,
        output,
        wakeup,
        heartbeat_interval_s=settings.heartbeat_interval_s,
        lost_after_s=settings.agent_lost_after_s,
        control=control,
        box=secret_box,
    )
    return Services(
        settings=settings,
        server_key=server_key,
        db=db,
        objects=objects,
        accounts=Accounts(db, server_key),
        wakeup=wakeup,
        pipelines=pipelines,
        projects=projects,
        agents=agents,
        output=output,
        ref_watcher=RefWatcher(projects, settings.ref_poll_interval_s),
        workflow_actions=WorkflowActions(db, conductor, wakeup, control),
        orbs=orbs,
        orb_catalog=OrbCatalog(db),
        memberships=Memberships(db),
        schedules=ScheduleService(db, pipelines),
        secret_box=secret_box,
        project_env=ProjectEnvVars(db, secret_box),
        project_tokens=ProjectTokens(db, server_key),
        ssh_keys=ssh_keys,
        contexts=ContextService(db, secret_box),
        groups=GroupService(db),
        users=UserService(db, server_key),
        system_settings=SystemSettings(db),
        storage=JobStorage(
            db,
            objects,
            StorageSettings(
                max_object_bytes=settings.max_object_size_mb * 1024 * 1024,
                serve_unsafe_artifacts=settings.serve_unsafe_artifacts,
            ),
        ),
        janitor=Janitor(db, objects, expiry_days=settings.storage_object_expiry_days),
        webhooks=WebhookService(db, secret_box),
        webhook_sender=WebhookSender(
            db,
            secret_box,
            outbox.delivery_added,
            SenderSettings(
                timeout_s=settings.webhook_timeout_s,
                max_attempts=settings.webhook_max_attempts,
                retry_base_s=settings.webhook_retry_base_s,
                lease_s=settings.webhook_timeout_s + 20.0,
            ),
        ),
    )


V2_PREFIX = "/api/v2"


V1_PREFIX = "/api/v1.1"


def api_openapi(app: FastAPI, prefix: str) -> dict[str, Any]:
    """One API version's OpenAPI description as CircleCI serves it: paths relative to its server URL.

    The CircleCI CLI looks for `paths["/context"]` in /api/v2/openapi.json to decide whether a
    server has the REST API.
    """
    full = get_openapi(title=app.title, version=app.version, routes=app.routes)
    paths = {p[len(prefix) :]: item for p, item in full.get("paths", {}).items() if p.startswith(prefix + "/")}
    return {**full, "servers": [{"url": prefix}], "paths": paths}


def v2_openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        app.openapi_schema = api_openapi(app, V2_PREFIX)
    return app.openapi_schema


def create_app(settings: Settings | None = None, *, services: Services | None = None) -> FastAPI:
    """Build the ASGI app. The database must already be upgraded (`rondo db upgrade` does it)."""
    svc = services or build_services(settings or Settings())
    started_at = time.monotonic()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        loops = [
            asyncio.create_task(svc.ref_watcher.run(), name="ref-watcher"),
            asyncio.create_task(svc.agents.run_sweeper(), name="agent-sweeper"),
            asyncio.create_task(svc.schedules.run_loop(), name="schedules"),
            asyncio.create_task(svc.janitor.run_loop(), name="janitor"),
            asyncio.create_task(svc.webhook_sender.run_loop(), name="webhook-sender"),
        ]
        try:
            yield
        finally:
            for task in loops:
                task.cancel()
            for task in loops:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await svc.db.close()

    app = FastAPI(
        title="Rondo",
        version=__version__,
        openapi_url="/api/v2/openapi.json",
        docs_url="/api/v2/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.services = svc
    app.openapi = lambda: v2_openapi(app)  # type: ignore[method-assign]
    app.add_middleware(
        SessionMiddleware, secret_key=svc.server_key.decode(), same_site="lax", session_cookie="rondo_session"
    )
    install_error_handlers(app)

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, _: SignInRequired) -> Response:
        return RedirectResponse("/login", status_code=303)

    v1_schema: dict[str, Any] = {}

    @app.get(V1_PREFIX + "/openapi.json", include_in_schema=False)
    async def v1_openapi() -> JSONResponse:
        if not v1_schema:
            v1_schema.update(api_openapi(app, V1_PREFIX))
        return JSONResponse(v1_schema)

    @app.get("/status", tags=["ops"])
    async def status() -> JSONResponse:
        ok, body = await health(svc.db, started_at)
        return JSONResponse(body, status_code=200 if ok else 503)

    for router in (
        agent_router,
        me_router,
        projects_router,
        env_vars_router,  # before artifacts: `/envvar/<name>` is not `/<job number>/artifacts`
        checkout_keys_router,
        contexts_router,
        groups_router,
        organization_members_router,
        admin_router,
        pipeline_definitions_router,  # before pipelines: `/pipeline/run` is not a pipeline number
        pipeline_lists_router,  # before pipelines: `/pipeline/mine` is not a pipeline number
        pipelines_router,
        pipeline_config_router,
        artifacts_router,
        schedules_router,
        webhooks_router,
        workflows_router,
        orbs_router,
        agents_router,
        compile_router,
        insights_router,
        test_insights_router,
        graphql_router,
        v1_me_router,
        v1_projects_router,
        v1_env_vars_router,  # before builds: `/envvar` is not a build number
        v1_project_tokens_router,  # before builds: `/token` is not a build number
        v1_ssh_keys_router,  # before builds: `/checkout-key`, `/ssh-key` and `/settings` are not build numbers
        v1_actions_router,
        v1_recent_builds_router,  # before builds: `/tree/<branch>` may look like `/<number>/artifacts`
        v1_builds_router,
        private_router,
        git_hook_router,
        objects_router,
        settings_pages_router,
        ui_router,  # last: its job page route is a catch-all of four path segments
    ):
        app.include_router(router)
    return app
