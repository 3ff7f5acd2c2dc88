"""/objects/{key}: the local object store's own presigned URLs (S3 serves its own).

Downloads are served as the type the URL was signed with (artifacts' safe-type rules) and never
sniffed; uploads stream to disk and must have exactly the size they were signed for.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, Response

from rondo.objects import LocalObjectStore, ObjectKeyError, ObjectTooLarge, SignatureError
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
    request: Request,
    expires: str = Query(""),
    signature: str = Query(""),
    svc: Services = Depends(services),
) -> Response:
    store = _local(svc)
    options = dict(request.query_params)
    try:
        store.verify("GET", key, expires, signature, options)
        path = store.path_for(key)
    except (SignatureError, ObjectKeyError) as exc:
        raise ApiError(403, str(exc)) from None
    if not path.is_file():
        raise ApiError(404, "Object not found")
    headers = {"X-Content-Type-Options": "nosniff"}
    if options.get("disposition"):
        headers["Content-Disposition"] = options["disposition"]
    return FileResponse(path, media_type=options.get("type") or None, headers=headers)


@router.put("/objects/{key:path}", status_code=200)
async def put_object(
    key: str,
    request: Request,
    expires: str = Query(""),
    signature: str = Query(""),
    svc: Services = Depends(services),
) -> dict[str, str]:
    store = _local(svc)
    options = dict(request.query_params)
    try:
        store.verify("PUT", key, expires, signature, options)
    except (SignatureError, ObjectKeyError) as exc:
        raise ApiError(403, str(exc)) from None
    size = int(options["size"]) if options.get("size", "").isdigit() else None
    try:
        await store.put_stream(key, request.stream(), size, svc.storage.settings.max_object_bytes)
    except ObjectTooLarge as exc:
        raise ApiError(400, str(exc)) from None
    return {"message": "ok"}
