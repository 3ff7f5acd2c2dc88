"""Pipeline definitions: each project has one, its `.circleci/config.yml`, as CircleCI gives OAuth projects.

Its id is derived from the project's id the way CircleCI derives a classic project's definition id
(a UUIDv5 in CircleCI's namespace), so clients that compute it themselves, as the CircleCI MCP server
does, name the same definition the API lists.
"""

from __future__ import annotations

import uuid

CLASSIC_DEFINITION_NAMESPACE = uuid.UUID("490603c3-03cc-45b7-ab54-e54574e6d099")
CONFIG_FILE_PATH = ".circleci/config.yml"

# The integration provider a classic (OAuth) project's definition names, by the slug's VCS.
PROVIDERS = {"gh": "github_oauth", "bb": "bitbucket_oauth", "circleci": "circleci"}


def definition_id(project_id: uuid.UUID) -> uuid.UUID:
    """The id of a project's one pipeline definition."""
    return uuid.uuid5(CLASSIC_DEFINITION_NAMESPACE, str(project_id))
