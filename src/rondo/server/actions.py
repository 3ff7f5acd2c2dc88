"""What routes need to call the engine's audited actions: who calls, through which request, and errors as HTTP.

Every request gets one id (kept in `request.state`), so the events one request causes share it; the
client's own `X-Client-Trace-Id` header travels into the audit log beside it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import Depends, Request

from rondo.engine.workflow_actions import ActionError
from rondo.ops.audit import Origin, RequestInfo, user_ref
from rondo.server.auth import Caller, admin_user, current_user, project_writer
from rondo.server.errors import ApiError
from rondo.store.models import User

TRACE_HEADER = "x-client-trace-id"


def request_info(request: Request) -> RequestInfo:
    rid = getattr(request.state, "audit_request_id", None)
    if rid is None:
        rid = request.state.audit_request_id = str(uuid.uuid4())
    trace = request.headers.get(TRACE_HEADER)
    return RequestInfo(
        id=rid,
        ip_address=request.client.host if request.client else None,
        client_trace_id=trace[:200] if trace else None,
    )


def origin_of(user: User, request: Request) -> Origin:
    return Origin(user_ref(user), request_info(request))


async def user_origin(request: Request, user: User = Depends(current_user)) -> Origin:
    """FastAPI dependency: the signed-in caller and this request, for the audit log."""
    return origin_of(user, request)


async def project_writer_origin(request: Request, caller: Caller = Depends(project_writer)) -> Origin:
    """FastAPI dependency for project routes: a user or this project's `all` token, and this request."""
    return Origin(caller.ref(), request_info(request))


async def admin_origin(request: Request, user: User = Depends(admin_user)) -> Origin:
    """FastAPI dependency: an administrator and this request (403 for anyone else)."""
    return origin_of(user, request)


@contextmanager
def api_errors() -> Iterator[None]:
    """Answer an engine ActionError with its status and message."""
    try:
        yield
    except ActionError as exc:
        raise ApiError(exc.status, exc.message) from None
