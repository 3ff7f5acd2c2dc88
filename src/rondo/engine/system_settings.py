"""System settings administrators change at run time (the admin area's System Settings), each change audited."""

from __future__ import annotations

from typing import Any

from rondo.engine.workflow_actions import ActionError
from rondo.ops.audit import SERVER_SCOPE, Origin, record
from rondo.store import system_settings as settings_q
from rondo.store.db import Database

# name -> (default, what it does)
KNOWN: dict[str, tuple[Any, str]] = {
    "suspend_new_users": (False, "new user accounts start suspended until an administrator activates them"),
}


class SystemSettings:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def current(self) -> dict[str, Any]:
        async with self._db.session() as session:
            stored = await settings_q.all_settings(session)
        return {name: stored.get(name, default) for name, (default, _) in KNOWN.items()}

    async def update(self, changes: dict[str, Any], origin: Origin) -> dict[str, Any]:
        """Change settings (settings.update, with each old and new value)."""
        unknown = sorted(set(changes) - set(KNOWN))
        if unknown:
            raise ActionError(400, f"Unknown settings: {', '.join(unknown)}. Known: {', '.join(KNOWN)}.")
        for name, value in changes.items():
            default = KNOWN[name][0]
            if type(value) is not type(default):
                raise ActionError(400, f"{name} is a {type(default).__name__}, not {value!r}.")
        async with self._db.session() as session:
            stored = await settings_q.all_settings(session)
            before = {name: stored.get(name, default) for name, (default, _) in KNOWN.items()}
            changed = {k: {"from": before[k], "to": v} for k, v in changes.items() if before[k] != v}
            for name, value in changes.items():
                await settings_q.put_setting(session, name, value)
            target = SERVER_SCOPE
            record(session, "settings.update", origin, target, SERVER_SCOPE, {"changed": changed})
            return {**before, **changes}
