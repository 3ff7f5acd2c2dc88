"""What the orb registry refuses, with a message for people, an HTTP status and a GraphQL error type."""

from __future__ import annotations


class OrbRegistryError(Exception):
    """A change the registry refuses: a version that is not exact, a source that is not an orb, a name taken..."""

    status = 400
    type = "INVALID_INPUT"  # the `type` of the GraphQL payload error the CircleCI CLI prints

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class OrbVersionExists(OrbRegistryError):
    """The release version is already published; releases never change."""

    status = 409
    type = "VERSION_EXISTS"


class OrbNameTaken(OrbRegistryError):
    """A namespace or orb of that name exists already."""

    status = 409
    type = "NAME_TAKEN"


class OrbMissing(OrbRegistryError):
    """The namespace, orb, version or category named does not exist (or is private to others)."""

    status = 404
    type = "NOT_FOUND"


class OrbAccessDenied(OrbRegistryError):
    """The caller may not change this namespace or orb."""

    status = 403
    type = "PERMISSION_DENIED"
