"""The orb registry's categories: CircleCI's fixed list, each with an id that never changes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

_IDS = uuid.UUID("6f1d0c52-8a57-4c1f-9f0e-0c6b3f0e7a11")  # the namespace of category ids (uuid5)

NAMES = (
    "Artifacts/Registry",
    "Build",
    "Cloud Platform",
    "Code Analysis",
    "Collaboration",
    "Containers",
    "Deployment",
    "Infra Automation",
    "Kubernetes",
    "Language/Framework",
    "Monitoring",
    "Notifications",
    "Reporting",
    "Security",
    "Testing",
)


@dataclass(frozen=True)
class OrbCategory:
    id: uuid.UUID
    name: str


CATEGORIES = tuple(OrbCategory(uuid.uuid5(_IDS, name), name) for name in NAMES)
BY_ID = {c.id: c for c in CATEGORIES}


def category_named(name: str) -> OrbCategory | None:
    """The category called `name`, ignoring case and surrounding spaces, or None."""
    wanted = name.strip().casefold()
    return next((c for c in CATEGORIES if c.name.casefold() == wanted), None)
