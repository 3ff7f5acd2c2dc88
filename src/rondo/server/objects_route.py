"""/objects/{key}: the local object store's own presigned URLs (S3 serves its own)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, Response

from rondo.objects import LocalObjectStore, ObjectKeyError, SignatureError
from rondo.server.errors import ApiError
from rondo.server.services import Services, services

router = APIRouter(include_in_schema=False)


def _local(svc: Services) -> LocalObjectStore:
    if not isinstance(svc.objects, LocalObjectStore):
        raise ApiError(404, "Not found")
    return svc.objects


@router.get("/objects/{key:path}")
async def get_object(
    key: str,
    expires: str = Query(""),
    signature: str = Query(""),
    svc: Services = Depends(services),
) -> Response:
    store = _local(svc)
    try:
        store.verify("GET", key, expires, signature)
        path = store.path_for(key)
    except (SignatureError, ObjectKeyError) as exc:
        raise ApiError(403, str(exc)) from None
    if not path.is_file():
        raise ApiError(404, "Object not found")
    return FileResponse(path)


@router.put("/objects/{key:path}", status_code=200)
async def put_object(
    key: str,
    request: Request,
    expires: str = Query(""),
    signature: str = Query(""),
    svc: Services = Depends(services),
) -> dict[str, str]:
    store = _local(svc)
    try:
        store.verify("PUT", key, expires, signature)
    except (SignatureError, ObjectKeyError) as exc:
        raise ApiError(403, str(exc)) from None
    await store.put(key, await request.body(), request.headers.get("content-type", "application/octet-stream"))
    return {"message": "ok"}
