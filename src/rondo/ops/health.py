"""`/status`: the load balancer's health check, as JSON that says which part is unwell."""

from __future__ import annotations

import time
from typing import Any

from rondo import __version__
from rondo.store.db import Database


async def health(db: Database, started_at: float) -> tuple[bool, dict[str, Any]]:
    checks: dict[str, str] = {}
    try:
        await db.ping()
        checks["database"] = "ok"
    except Exception as exc:  # any failure to reach the database is what this check reports
        checks["database"] = f"error: {type(exc).__name__}: {exc}"
    ok = all(v == "ok" for v in checks.values())
    return ok, {
        "status": "ok" if ok else "unavailable",
        "version": __version__,
        "uptime_s": round(time.monotonic() - started_at, 1),
        "checks": checks,
    }
