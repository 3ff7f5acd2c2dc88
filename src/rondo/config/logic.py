"""Logic statements (`and`, `or`, `not`, `equal`, `matches`) of `when`/`unless` (CONFIG-SPEC §12.1).

Values reach here already interpolated, so `<< pipeline.git.branch >>` is a plain string by now.
Workflow `when`/`unless` also accept a bare expression string (§10.8), evaluated with the
expression language and its own truthiness.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from rondo.config import expressions
from rondo.config.interpolation import truthy
from rondo.config.yaml_source import expanded_size

OPERATORS = ("and", "or", "not", "equal", "matches")
MAX_DEPTH = 100
MAX_PARTS = 1000  # real statements have a few dozen; a command may evaluate its statement thousands of times


class LogicError(Exception):
    """A malformed logic statement; the message says what the right form is."""


def _same(a: Any, b: Any) -> bool:
    # YAML typing is strict here: `true` is not 1 and "1" is not 1.
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return bool(a == b)
    return type(a) is type(b) and bool(a == b)


def _java_fullmatch(pattern: str, value: str) -> bool:
    try:
        return re.fullmatch(pattern, value) is not None
    except re.error as exc:
        raise LogicError(f"'{pattern}' is not a valid regular expression: {exc}") from None


def evaluate(statement: Any, depth: int = 0) -> bool:
    """Whether a logic statement holds."""
    if depth > MAX_DEPTH:
        raise LogicError(f"logic statements nest more than {MAX_DEPTH} levels deep")
    if depth == 0 and expanded_size(statement, MAX_PARTS) > MAX_PARTS:
        raise LogicError(f"this logic statement has more than {MAX_PARTS} parts (a YAML alias bomb?)")
    if isinstance(statement, dict) and len(statement) == 1:
        op, arg = next(iter(statement.items()))
        if op in ("and", "or"):
            if not isinstance(arg, list) or not arg:
                raise LogicError(f"'{op}' takes a non-empty list of logic statements")
            results = (evaluate(s, depth + 1) for s in arg)
            return all(results) if op == "and" else any(results)
        if op == "not":
            return not evaluate(arg, depth + 1)
        if op == "equal":
            if not isinstance(arg, list) or not arg:
                raise LogicError("'equal' takes a non-empty list of values to compare")
            return all(_same(arg[0], other) for other in arg[1:])
        if op == "matches":
            if not isinstance(arg, dict) or set(arg) != {"pattern", "value"}:
                raise LogicError("'matches' takes a map with exactly the keys 'pattern' and 'value'")
            pattern, value = arg["pattern"], arg["value"]
            if not isinstance(pattern, str):
                raise LogicError("the 'pattern' of 'matches' must be a string (a regular expression)")
            return _java_fullmatch(pattern.strip("/") if _slashed(pattern) else pattern, _text(value))
    return truthy(statement)


def _slashed(pattern: str) -> bool:
    return len(pattern) >= 2 and pattern.startswith("/") and pattern.endswith("/")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def evaluate_condition(value: Any, env: Mapping[str, Any]) -> bool:
    """A workflow `when`/`unless` value: a logic statement, or a bare expression string."""
    if isinstance(value, str) and value.strip():
        try:
            parsed = expressions.parse(value)
        except expressions.ExpressionError:
            return truthy(value)
        try:
            return expressions.is_truthy(parsed.evaluate(env))
        except expressions.ExpressionError as exc:
            raise LogicError(exc.describe(value)) from None
    return evaluate(value)
