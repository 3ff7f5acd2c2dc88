"""Project API tokens' scopes, CircleCI's three: each allows what the ones before it do, and more.

- `status`: read the project's build statuses (its recent builds);
- `view-builds`: read everything about its builds (details, steps' output, artifacts, test results)
  and its environment variables (masked);
- `all`: also trigger, cancel and retry builds, and change environment variables.

A project token works only on its own project's API v1.1 endpoints, as on CircleCI.
"""

from __future__ import annotations

STATUS = "status"
VIEW_BUILDS = "view-builds"
ALL = "all"
SCOPES = (STATUS, VIEW_BUILDS, ALL)
ACTOR_PREFIX = "project-token:"  # no user login has a colon, so a token's actor is never a user's


def allows(granted: str, needed: str) -> bool:
    """Whether a token of scope `granted` may do what needs `needed`."""
    return granted in SCOPES and SCOPES.index(granted) >= SCOPES.index(needed)


def enough(needed: str) -> str:
    """The scopes that allow `needed`, for messages: "`view-builds` or `all`"."""
    return " or ".join(f"`{s}`" for s in SCOPES[SCOPES.index(needed) :])


def actor_name(label: str) -> str:
    """Who a pipeline triggered with a project token says started it."""
    return (ACTOR_PREFIX + label)[:200]
