"""Who sees and who changes what in the orb registry.

A private orb is seen only by administrators and by members of the organization that owns its
namespace; the same people may create orbs in a namespace and publish, promote, list or file them.
Namespaces imported by an administrator (`circleci admin import-orb`, `rondo orb import`) belong to
no organization, so only administrators change them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.sql import ColumnElement

from rondo.store import orbs as orb_q
from rondo.store.models import Orb, OrbNamespace


@dataclass(frozen=True)
class OrbViewer:
    """Whose eyes the registry looks through: an administrator, or the organizations someone belongs to."""

    admin: bool = False
    org_ids: frozenset[uuid.UUID] = frozenset()
    user_id: uuid.UUID | None = None  # recorded as an orb version's publisher

    def sees(self, orb: Orb, namespace: OrbNamespace) -> bool:
        return not orb.is_private or self.admin or namespace.organization_id in self.org_ids

    def may_change(self, namespace: OrbNamespace) -> bool:
        return self.admin or (namespace.organization_id is not None and namespace.organization_id in self.org_ids)

    def visible(self) -> ColumnElement[bool]:
        """The orbs this viewer sees, as a condition on `orbs` joined with `orb_namespaces`."""
        return orb_q.visible_to(self.admin, self.org_ids)


PUBLIC = OrbViewer()  # sees public orbs only, changes nothing
ADMIN = OrbViewer(admin=True)


def for_organization(org_id: uuid.UUID) -> OrbViewer:
    """A pipeline's view: public orbs and the private orbs of its project's organization."""
    return OrbViewer(org_ids=frozenset({org_id}))
