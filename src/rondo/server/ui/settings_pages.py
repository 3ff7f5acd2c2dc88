"""Web pages for settings: a project's environment variables (masked) and SSH keys (public halves only), and the
admin area's audit log."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from rondo.engine.workflow_actions import ActionError
from rondo.ops.audit import Origin, event_json
from rondo.server import lookups
from rondo.server.actions import origin_of
from rondo.server.api_v2.admin import audit_csv_response
from rondo.server.errors import ApiError
from rondo.server.services import Services, services
from rondo.server.ui.routes import check_csrf, csrf_token, page_user, templates
from rondo.store import audit as audit_q
from rondo.store.models import Project, User

router = APIRouter(include_in_schema=False)


async def page_admin(user: User = Depends(page_user)) -> User:
    if not user.is_admin:
        raise ApiError(403, "Only administrators can see the admin area.")
    return user


@router.get("/projects/{vcs}/{org}/{repo}/settings", response_class=HTMLResponse)
async def project_settings_page(
    request: Request,
    vcs: str,
    org: str,
    repo: str,
    error: str | None = None,
    user: User = Depends(page_user),
    svc: Services = Depends(services),
) -> Response:
    async with svc.db.session() as session:
        project = await lookups.project(session, user, vcs, org, repo)
    env_vars = await svc.project_env.list_all(project.id)
    context = {
        "user": user,
        "project": project,
        "env_vars": env_vars,
        "checkout_keys": await svc.ssh_keys.checkout_keys(project.id),
        "ssh_keys": await svc.ssh_keys.ssh_keys(project.id),
        "csrf": csrf_token(request),
        "error": error,
    }
    return templates.TemplateResponse(request, "project_settings.html", context)


async def _settings_change(
    request: Request,
    vcs: str,
    org: str,
    repo: str,
    csrf: str,
    user: User,
    svc: Services,
    change: Callable[[Project, Origin], Awaitable[object]],
    *,
    show_errors: bool,
    anchor: str = "",
) -> Response:
    """Every settings form: check CSRF, find the project, make the change, go back to the page.

    A form that adds something shows its refusal on the page (`show_errors`); a delete button's is an error page.
    """
    check_csrf(request, csrf)
    async with svc.db.session() as session:
        project = await lookups.project(session, user, vcs, org, repo)
    try:
        await change(project, origin_of(user, request))
    except ActionError as exc:
        if not show_errors:
            raise ApiError(exc.status, exc.message) from None
        return await project_settings_page(request, vcs, org, repo, exc.message, user, svc)
    return RedirectResponse(f"/projects/{project.slug}/settings{anchor}", status_code=303)


@router.post("/projects/{vcs}/{org}/{repo}/settings/envvar")
async def add_env_var(
    request: Request,
    vcs: str,
    org: str,
    repo: str,
    csrf: str = Form(...),
    name: str = Form(...),
    value: str = Form(...),
    user: User = Depends(page_user),
    svc: Services = Depends(services),
) -> Response:
    return await _settings_change(
        request, vcs, org, repo, csrf, user, svc,
        lambda project, origin: svc.project_env.put(project.id, name.strip(), value, origin),
        show_errors=True,
    )  # fmt: skip


@router.post("/projects/{vcs}/{org}/{repo}/settings/envvar/{name}/delete")
async def delete_env_var(
    request: Request,
    vcs: str,
    org: str,
    repo: str,
    name: str,
    csrf: str = Form(...),
    user: User = Depends(page_user),
    svc: Services = Depends(services),
) -> Response:
    return await _settings_change(
        request, vcs, org, repo, csrf, user, svc,
        lambda project, origin: svc.project_env.delete(project.id, name, origin),
        show_errors=False,
    )  # fmt: skip


@router.post("/projects/{vcs}/{org}/{repo}/settings/checkout-key")
async def add_checkout_key(
    request: Request,
    vcs: str,
    org: str,
    repo: str,
    csrf: str = Form(...),
    user: User = Depends(page_user),
    svc: Services = Depends(services),
) -> Response:
    """Make a deploy key (it becomes the preferred checkout key)."""
    return await _settings_change(
        request, vcs, org, repo, csrf, user, svc,
        lambda project, origin: svc.ssh_keys.create_checkout_key(project.id, "deploy-key", origin),
        show_errors=True, anchor="#ssh-keys",
    )  # fmt: skip


@router.post("/projects/{vcs}/{org}/{repo}/settings/checkout-key/{fingerprint}/delete")
async def delete_checkout_key(
    request: Request,
    vcs: str,
    org: str,
    repo: str,
    fingerprint: str,
    csrf: str = Form(...),
    user: User = Depends(page_user),
    svc: Services = Depends(services),
) -> Response:
    return await _settings_change(
        request, vcs, org, repo, csrf, user, svc,
        lambda project, origin: svc.ssh_keys.delete_checkout_key(project.id, fingerprint, origin),
        show_errors=False, anchor="#ssh-keys",
    )  # fmt: skip


@router.post("/projects/{vcs}/{org}/{repo}/settings/ssh-key")
async def add_ssh_key(
    request: Request,
    vcs: str,
    org: str,
    repo: str,
    csrf: str = Form(...),
    hostname: str = Form(""),
    private_key: str = Form(...),
    user: User = Depends(page_user),
    svc: Services = Depends(services),
) -> Response:
    return await _settings_change(
        request, vcs, org, repo, csrf, user, svc,
        lambda project, origin: svc.ssh_keys.add_ssh_key(project.id, hostname, private_key, origin),
        show_errors=True, anchor="#ssh-keys",
    )  # fmt: skip


@router.post("/projects/{vcs}/{org}/{repo}/settings/ssh-key/delete")
async def delete_ssh_key(
    request: Request,
    vcs: str,
    org: str,
    repo: str,
    csrf: str = Form(...),
    fingerprint: str = Form(...),
    hostname: str = Form(""),
    user: User = Depends(page_user),
    svc: Services = Depends(services),
) -> Response:
    return await _settings_change(
        request, vcs, org, repo, csrf, user, svc,
        lambda project, origin: svc.ssh_keys.delete_ssh_key(project.id, fingerprint, hostname, origin),
        show_errors=False, anchor="#ssh-keys",
    )  # fmt: skip


@router.get("/admin/audit", response_class=HTMLResponse)
async def audit_page(request: Request, user: User = Depends(page_admin), svc: Services = Depends(services)) -> Response:
    async with svc.db.session() as session:
        events = [event_json(e) for e in await audit_q.latest(session, 50)]
    return templates.TemplateResponse(request, "audit.html", {"user": user, "events": events})


@router.get("/admin/audit.csv")
async def audit_download(
    start: str | None = None,
    end: str | None = None,
    _: User = Depends(page_admin),
    svc: Services = Depends(services),
) -> StreamingResponse:
    """The CSV download of the admin area: the same as GET /api/v2/admin/audit-log."""
    return audit_csv_response(svc, start, end)
