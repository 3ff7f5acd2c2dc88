"""What every resolver gets: the services, the caller, the caller's view of the orb registry, the request."""

from __future__ import annotations

from dataclasses import dataclass

from rondo.engine.orb_access import OrbViewer
from rondo.ops.audit import Origin
from rondo.server.services import Services
from rondo.store.models import User


@dataclass(frozen=True)
class GraphQLContext:
    svc: Services
    user: User
    viewer: OrbViewer  # which private orbs the caller sees and which namespaces they may change
    origin: Origin  # the caller and this request, for the audit log
