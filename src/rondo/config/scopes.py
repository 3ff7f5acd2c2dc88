"""Where config elements live while a config is processed: the root config and each imported orb.

A scope holds the `commands`, `executors` and `jobs` one file (or inline orb) defines, plus the orbs
it imports under their local aliases. References resolve lexically: `name` in the scope itself,
`alias/name` in an orb it imports (CONFIG-SPEC §11.3). Every element remembers its origin so an
error can point at the file, line and column where it was written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rondo.config.yaml_source import Path

KINDS = ("commands", "executors", "jobs")


@dataclass
class Origin:
    """A source text: the config file or an orb version. Inline orbs share their config's origin."""

    file: str
    text: str


class ElementError(Exception):
    """A problem that stops one element (a job, a command call…) from being expanded."""

    def __init__(self, message: str, origin: Origin, path: Path) -> None:
        super().__init__(message)
        self.message = message
        self.origin = origin
        self.path = path


@dataclass
class Scope:
    origin: Origin
    base: Path  # where this scope's map sits in its origin: () or ("orbs", "alias") for an inline orb
    label: str  # "" for the config itself, else the orb reference or alias chain, for messages
    is_orb: bool
    env: dict[str, Any]  # pipeline values (and pipeline parameters outside orbs) for `<< >>`
    elements: dict[str, dict[str, Any]] = field(default_factory=lambda: {k: {} for k in KINDS})
    orbs: dict[str, Scope] = field(default_factory=dict)

    def path(self, *parts: str | int) -> Path:
        return (*self.base, *parts)

    def fail(self, message: str, *parts: str | int) -> ElementError:
        return ElementError(message, self.origin, self.path(*parts))

    def find(self, kind: str, name: str, _seen: int = 0) -> tuple[Scope, str, Any] | None:
        """The element `name` (or `alias/name`) of this kind, following string aliases like `orb/cmd`."""
        if _seen > 20:
            return None
        if "/" in name:
            alias, _, rest = name.partition("/")
            orb = self.orbs.get(alias)
            if orb is None:
                return None
            return orb.find(kind, rest, _seen + 1)
        raw = self.elements[kind].get(name)
        if raw is None and name not in self.elements[kind]:
            return None
        if isinstance(raw, str) and "/" in raw:
            return self.find(kind, raw, _seen + 1)
        return self, name, raw

    def describe(self) -> str:
        return f"orb '{self.label}'" if self.is_orb else "the config"
