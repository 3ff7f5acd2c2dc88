"""YAML text -> plain Python data, fast, the way CircleCI's compiler (SnakeYAML, YAML 1.1) reads it.

Loading uses libyaml through PyYAML's C parser and keeps no positions, because compiling is a hot
path. When an error has to be reported, `locate` composes the text again and walks the path to
the node, so line and column cost nothing until someone needs them (CONFIG-SPEC §2).
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.cyaml import CParser
from yaml.resolver import Resolver

Path = tuple[str | int, ...]

_C_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class SourceFloat(float):
    """A float that remembers how it was written, so `xcode: 12.50` or `version: 3.10` stay exact."""

    __slots__ = ("text",)
    text: str

    def __new__(cls, value: float, text: str) -> SourceFloat:
        obj = super().__new__(cls, value)
        obj.text = text
        return obj

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return self.text


class _Constructor(SafeConstructor):  # type: ignore[misc]
    """SafeConstructor with CircleCI's choices: timestamps stay text, floats keep their spelling."""

    def construct_yaml_float(self, node: yaml.ScalarNode) -> Any:
        value = super().construct_yaml_float(node)
        return SourceFloat(value, node.value)

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:
        return node.value

    def construct_undefined(self, node: yaml.Node) -> Any:
        # Unknown tags (`!foo`) are not CircleCI's business; read the value as if untagged.
        if isinstance(node, yaml.ScalarNode):
            return node.value
        if isinstance(node, yaml.SequenceNode):
            return self.construct_sequence(node, deep=True)
        return self.construct_mapping(node, deep=True)


_Constructor.add_constructor("tag:yaml.org,2002:float", _Constructor.construct_yaml_float)
_Constructor.add_constructor("tag:yaml.org,2002:timestamp", _Constructor.construct_yaml_timestamp)
_Constructor.add_constructor(None, _Constructor.construct_undefined)


class _FastLoader(CParser, _Constructor, Resolver):  # type: ignore[misc]
    def __init__(self, stream: str) -> None:
        CParser.__init__(self, stream)
        _Constructor.__init__(self)
        Resolver.__init__(self)


class _RelaxedComposer(Composer):  # type: ignore[misc]
    """A composer that lets an anchor be defined again: later aliases see the newest definition.

    SnakeYAML allows this and real configs rely on it; libyaml's composer refuses, so configs that
    redefine an anchor are composed here instead (still on the C parser's events).
    """

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            return super().compose_node(parent, index)
        event = self.peek_event()
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            self.anchors.pop(anchor, None)
        return super().compose_node(parent, index)


class _RelaxedLoader(_RelaxedComposer, CParser, _Constructor, Resolver):  # type: ignore[misc]
    def __init__(self, stream: str) -> None:
        CParser.__init__(self, stream)
        _RelaxedComposer.__init__(self)
        _Constructor.__init__(self)
        Resolver.__init__(self)

    def get_single_node(self) -> Any:
        return Composer.get_single_node(self)

    def get_node(self) -> Any:
        return Composer.get_node(self)

    def check_node(self) -> Any:
        return Composer.check_node(self)


class YamlError(Exception):
    """A YAML syntax error with a 1-based line and column when the parser knows them."""

    def __init__(self, message: str, line: int | None, column: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


def _yaml_error(exc: Exception, text: str) -> YamlError:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        parts = [p for p in (exc.context, exc.problem) if p]
        message = ", ".join(parts) or "invalid YAML"
        if mark is not None:
            return YamlError(message, mark.line + 1, mark.column + 1)
        return YamlError(message, None, None)
    if isinstance(exc, yaml.reader.ReaderError):
        # A character YAML does not allow: libyaml gives its offset in UTF-8 bytes, not a line and column.
        before = text.encode("utf-8", errors="surrogatepass")[: exc.position].decode("utf-8", errors="ignore")
        code = ord(exc.character) if isinstance(exc.character, str) else exc.character
        return YamlError(f"unacceptable character #x{code:04x}: {exc.reason}", *_line_column(before, len(before)))
    if isinstance(exc, UnicodeError):  # a lone surrogate, which UTF-8 cannot carry
        index = getattr(exc, "start", None)
        where = _line_column(text, index) if isinstance(index, int) else (None, None)
        return YamlError(f"invalid YAML: {exc}", *where)
    if isinstance(exc, ValueError | TypeError):
        return YamlError(f"invalid YAML: {exc}", None, None)
    return YamlError(str(exc) or exc.__class__.__name__, None, None)


def _line_column(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of the character at `index`."""
    return text.count("\n", 0, index) + 1, index - (text.rfind("\n", 0, index) + 1) + 1


def _is_duplicate_anchor(exc: Exception) -> bool:
    return isinstance(exc, yaml.composer.ComposerError) and "duplicate anchor" in str(exc)


MAX_NESTING = 500


def _check_nesting(text: str) -> None:
    """Refuse flow collections nested absurdly deep: libyaml and the constructor recurse on them."""
    if text.count("[") + text.count("{") < MAX_NESTING:
        return
    depth = 0
    for i, ch in enumerate(text):
        if ch in "[{":
            depth += 1
            if depth > MAX_NESTING:
                raise YamlError(f"the YAML nests more than {MAX_NESTING} levels deep", *_line_column(text, i))
        elif ch in "]}" and depth:
            depth -= 1


def load(text: str) -> Any:
    """Parse one YAML document into dicts, lists and scalars; raises YamlError."""
    _check_nesting(text)
    try:
        return yaml.load(text, Loader=_FastLoader)
    except yaml.YAMLError as exc:
        if not _is_duplicate_anchor(exc):
            raise _yaml_error(exc, text) from None
    except (ValueError, TypeError) as exc:
        raise _yaml_error(exc, text) from None
    except RecursionError:
        raise YamlError("the YAML nests too deeply", None, None) from None
    try:
        return yaml.load(text, Loader=_RelaxedLoader)
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, text) from None
    except (ValueError, TypeError) as exc:
        raise _yaml_error(exc, text) from None
    except RecursionError:
        raise YamlError("the YAML nests too deeply", None, None) from None


class _RelaxedNodeLoader(_RelaxedComposer, CParser, Resolver):  # type: ignore[misc]
    def __init__(self, stream: str) -> None:
        CParser.__init__(self, stream)
        _RelaxedComposer.__init__(self)
        Resolver.__init__(self)

    def get_single_node(self) -> Any:
        return Composer.get_single_node(self)


def _compose(text: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=_C_LOADER)
    except yaml.YAMLError as exc:
        if not _is_duplicate_anchor(exc):
            return None
    try:
        return yaml.compose(text, Loader=_RelaxedNodeLoader)
    except yaml.YAMLError:
        return None


def _mapping_entry(node: yaml.MappingNode, key: str, depth: int = 0) -> tuple[yaml.Node, yaml.Node] | None:
    """The (key, value) nodes for `key`, looking through `<<` merge keys like the constructor does."""
    for k, v in reversed(node.value):
        if isinstance(k, yaml.ScalarNode) and k.value == key and k.tag != "tag:yaml.org,2002:merge":
            return k, v
    if depth > 50:
        return None
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.tag == "tag:yaml.org,2002:merge":
            merged = v.value if isinstance(v, yaml.SequenceNode) else [v]
            for m in merged:
                if isinstance(m, yaml.MappingNode):
                    found = _mapping_entry(m, key, depth + 1)
                    if found is not None:
                        return found
    return None


def compose(text: str) -> yaml.Node | None:
    """The node tree of `text` (with positions), or None when it does not parse."""
    return _compose(text)


def locate(text: str | yaml.Node | None, path: Path) -> tuple[int | None, int | None]:
    """1-based line and column of the node at `path` (the deepest node found along it)."""
    node = _compose(text) if isinstance(text, str) else text
    if node is None:  # an empty document (or one that does not parse): its start is all there is
        return 1, 1
    mark = node.start_mark
    for part in path:
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            entry = _mapping_entry(node, part)
            if entry is None:
                break
            mark = entry[0].start_mark
            node = entry[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            mark = node.start_mark
        else:
            break
    return mark.line + 1, mark.column + 1


MAX_NODES = 500_000  # values in a config or orb with its aliases expanded, and in all of its expansion
MAX_DEPTH = 100  # maps and lists inside each other (SnakeYAML, CircleCI's parser, allows 50 by default)


def expanded_size(value: Any, limit: int) -> int:
    """How many values `value` holds, a YAML alias counted each time it appears; counting stops past `limit`."""
    count = 0
    stack = [value]
    while stack:
        item = stack.pop()
        count += 1
        if count > limit:
            break
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return count


def too_deep(value: Any, limit: int) -> Path | None:
    """The path to the first map or list nested more than `limit` levels deep in `value` (aliases followed)."""
    # (node, depth, key, parent entry): paths are rebuilt only for the one that is reported.
    stack: list[tuple[Any, int, str | int, Any]] = [(value, 0, "", None)]
    while stack:
        entry = stack.pop()
        item, depth = entry[0], entry[1]
        if depth > limit:
            path: list[str | int] = []
            while entry[3] is not None:
                path.append(entry[2])
                entry = entry[3]
            return tuple(reversed(path))
        if isinstance(item, dict):
            stack.extend((v, depth + 1, str(k), entry) for k, v in item.items() if isinstance(v, dict | list))
        elif isinstance(item, list):
            stack.extend((v, depth + 1, i, entry) for i, v in enumerate(item) if isinstance(v, dict | list))
    return None


def format_path(path: Path) -> str:
    """`("jobs", "build", "steps", 2, "run")` -> `jobs.build.steps[2].run`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
