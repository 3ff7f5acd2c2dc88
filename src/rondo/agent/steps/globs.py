"""Go's `filepath.Match` for one path segment: `persist_to_workspace` paths are globs of that kind."""

from __future__ import annotations

import re
from functools import lru_cache

_MAGIC = re.compile(r"[*?\[\\]")


def has_magic(segment: str) -> bool:
    return _MAGIC.search(segment) is not None


@lru_cache(maxsize=256)
def _compile(pattern: str) -> re.Pattern[str]:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        elif c == "[":
            end = pattern.find("]", i + 2 if pattern[i + 1 : i + 2] in ("^", "]") else i + 1)
            if end == -1:
                raise ValueError(f"the glob {pattern!r} has a '[' that is never closed")
            body = pattern[i + 1 : end]
            negate = body.startswith("^")
            body = body[1:] if negate else body
            escaped = body.replace("\\", "\\\\").replace("[", "\\[")
            out.append(f"[{'^' if negate else ''}{escaped}]")
            i = end
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z", re.DOTALL)


def match(pattern: str, name: str) -> bool:
    """Whether the segment `name` matches the segment `pattern` (`*` and `?` never match '/')."""
    return _compile(pattern).match(name) is not None
