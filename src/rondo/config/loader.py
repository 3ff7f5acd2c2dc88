"""YAML loading that keeps every node's line and column, the way CircleCI reads YAML.

CircleCI's compiler reads YAML 1.1 (SnakeYAML), so `on`/`yes`/`off`/`no` are booleans and a quoted
"on" is a string; CONFIG-SPEC §2. Anchors, aliases and merge keys are plain YAML and resolved here.
"""

from __future__ import annotations

import io
import warnings
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, ReusedAnchorWarning, YAMLError

from rondo.config.errors import ConfigError


def load_yaml(text: str, filename: str) -> tuple[Any, list[ConfigError]]:
    """Parse one YAML document; return it, or the parse error with its position."""
    yaml = YAML(typ="rt")
    yaml.version = (1, 1)
    yaml.allow_duplicate_keys = False
    try:
        with warnings.catch_warnings():
            # YAML 1.1 (SnakeYAML) lets an anchor be defined again; later aliases see the newest one.
            warnings.simplefilter("ignore", ReusedAnchorWarning)
            return yaml.load(io.StringIO(text)), []
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        line = mark.line + 1 if mark is not None else None
        column = mark.column + 1 if mark is not None else None
        return None, [ConfigError(f"YAML error: {problem}", "", filename, line, column)]
    except (YAMLError, ValueError, RecursionError) as exc:
        return None, [ConfigError(f"YAML error: {exc}", "", filename)]


def position(parent: Any, key: str | int | None) -> tuple[int | None, int | None]:
    """1-based line and column of `parent[key]` (its key for maps, its item for lists), or of `parent`."""
    try:
        if key is None:
            if isinstance(parent, CommentedMap | CommentedSeq):
                return parent.lc.line + 1, parent.lc.col + 1
            return None, None
        if isinstance(parent, CommentedMap):
            line, col = parent.lc.key(key)
            return line + 1, col + 1
        if isinstance(parent, CommentedSeq):
            line, col = parent.lc.item(key)
            return line + 1, col + 1
    except (KeyError, IndexError, TypeError, AttributeError):
        pass
    return None, None


def value_position(parent: Any, key: str | int) -> tuple[int | None, int | None]:
    """1-based line and column of the value at `parent[key]`."""
    try:
        if isinstance(parent, CommentedMap):
            line, col = parent.lc.value(key)
            return line + 1, col + 1
    except (KeyError, TypeError, AttributeError):
        pass
    return position(parent, key)
