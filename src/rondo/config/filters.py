"""Whether a workflow job runs for a pipeline's branch or tag: classic map filters and expression filters.

Classic rules (CONFIG-SPEC §10.4): a name is a literal or a `/regex/` that must match the whole
name; with both `only` and `ignore`, `only` decides; a job never runs for a tag unless it has a
`tags` filter; a `tags` filter without `branches` still runs on every branch. Expression filters
are evaluated over the pipeline values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from rondo.config import expressions


@lru_cache(maxsize=512)
def _regex(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:
        return None


def _matches(rule: str, name: str) -> bool:
    if len(rule) >= 2 and rule.startswith("/") and rule.endswith("/"):
        rx = _regex(rule[1:-1])
        return rx is not None and rx.fullmatch(name) is not None
    return rule == name


def _rules(value: Any) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    return [str(v) for v in items]


def _passes(section: Mapping[str, Any], name: str) -> bool:
    if "only" in section:
        return any(_matches(r, name) for r in _rules(section.get("only")))
    if "ignore" in section:
        return not any(_matches(r, name) for r in _rules(section.get("ignore")))
    return True


def job_runs(
    filters: Mapping[str, Any] | str | None,
    branch: str | None,
    tag: str | None,
    env: Mapping[str, Any] | None = None,
) -> bool:
    """Whether a job with these filters runs for a pipeline on `branch` or `tag`."""
    if isinstance(filters, str):
        try:
            return expressions.is_truthy(expressions.evaluate(filters, env or {}))
        except expressions.ExpressionError:
            return False
    filters = filters or {}
    branches = filters.get("branches")
    tags = filters.get("tags")
    if tag and not branch:
        if not isinstance(tags, Mapping):
            return False
        return _passes(tags, tag)
    if branch and not tag:
        return _passes(branches, branch) if isinstance(branches, Mapping) else True
    if branch and tag:
        if isinstance(branches, Mapping):
            return _passes(branches, branch)
        if isinstance(tags, Mapping) and "ignore" in tags and "only" not in tags:
            return _passes(tags, tag)
        return True
    return True
