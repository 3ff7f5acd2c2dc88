"""`<< … >>` in config strings: parameter and pipeline references, expressions, mustache sections.

A scalar that is only one `<< x >>` takes the value's own type (a boolean, a number, a list of
steps, an executor); otherwise values are turned into text and spliced in. Substituted text is not
scanned again, and `\\<<` is a literal `<<` (CONFIG-SPEC §9.2). Mustache sections `<<# x >>…<</ x >>`
and `<<^ x >>…<</ x >>` keep or drop their text by the value's truthiness (§9.2.4).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from rondo.config import expressions

Env = Mapping[str, Any]

_TOKEN = re.compile(r"\\<<|<<([#^/]?)[ \t]*(.*?)[ \t]*>>")
_WHOLE = re.compile(r"\s*<<[ \t]*([^#^/\s][^\n]*?)[ \t]*>>\s*")
_IDENT = re.compile(r"[A-Za-z][A-Za-z0-9_?-]*(?:\.[A-Za-z0-9_?-]+)*")
_INCLUDE = re.compile(r"include\s*\(")


class InterpolationError(Exception):
    """A reference or expression in `<< >>` that cannot be resolved; the message is for people."""


class ExpandedSteps(list[Any]):
    """Steps already expanded in the scope that wrote them (a `steps` argument); spliced as they are."""


def _unknown(name: str) -> InterpolationError:
    if name.startswith("parameters."):
        return InterpolationError(f"Arguments referenced without declared parameters: {name}")
    return InterpolationError(f'Referred to a variable "{name}" that does not exist: << {name} >>')


def evaluate(content: str, env: Env) -> Any:
    """The value of what is inside `<< >>`: a reference or an expression. None stands for undefined."""
    if _IDENT.fullmatch(content):
        try:
            return env[content]
        except KeyError:
            raise _unknown(content) from None
    if _INCLUDE.match(content):
        raise InterpolationError(
            f"<< {content} >> is an orb packing directive; it works only in orb source before `orb pack`"
        )
    try:
        value = expressions.evaluate(content, env)
    except expressions.ExpressionError as exc:
        if exc.error_type == "Interpreter/UNKNOWN_VARIABLE":
            raise _unknown(exc.lexeme) from None
        raise InterpolationError(exc.describe(content)) from None
    return None if value is expressions.UNDEFINED else value


def to_text(value: Any) -> str:
    """How a value reads when spliced into a string."""
    if isinstance(value, str):
        return value
    if value is None or value is expressions.UNDEFINED:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(value) if not value.is_integer() or hasattr(value, "text") else str(int(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, expressions.Pattern):
        return f"/{value.source}/"
    return json.dumps(value, default=str)


def truthy(value: Any) -> bool:
    """Truthiness of logic statements and mustache sections: false, null, 0, NaN and "" are falsy."""
    if value is None or value is expressions.UNDEFINED or value is False:
        return False
    if isinstance(value, bool):
        return True
    if isinstance(value, int | float):
        return value != 0 and not (isinstance(value, float) and math.isnan(value))
    if isinstance(value, str | list | dict):
        return len(value) > 0
    return True


def interpolate_string(text: str, env: Env) -> Any:
    """Resolve every `<< >>` in one scalar string."""
    whole = _WHOLE.fullmatch(text)
    if whole is not None and "<<" not in whole.group(1) and ">>" not in whole.group(1):
        return evaluate(whole.group(1), env)
    pieces: list[tuple[str, str, str]] = []  # (kind, payload, raw): kind "" text, "=", "#", "^", "/"
    pos = 0
    for m in _TOKEN.finditer(text):
        if m.start() > pos:
            pieces.append(("", text[pos : m.start()], ""))
        if m.group(0) == "\\<<":
            pieces.append(("", "<<", ""))
        else:
            pieces.append((m.group(1) or "=", m.group(2), m.group(0)))
        pos = m.end()
    if pos < len(text):
        pieces.append(("", text[pos:], ""))
    out, end = _render(pieces, 0, env, None)
    if end != len(pieces):
        raise InterpolationError(f"'{pieces[end][2]}' closes a section that was never opened")
    return out


def _render(pieces: list[tuple[str, str, str]], i: int, env: Env, closing: str | None) -> tuple[str, int]:
    out: list[str] = []
    while i < len(pieces):
        kind, payload, raw = pieces[i]
        if kind == "":
            out.append(payload)
        elif kind == "=":
            out.append(to_text(evaluate(payload, env)))
        elif kind in "#^":
            inner, i = _render(pieces, i + 1, env, payload)
            keep = truthy(evaluate(payload, env))
            if keep == (kind == "#"):
                out.append(inner)
        else:  # a closing tag
            if closing is None:
                return "".join(out), i
            if payload != closing:
                raise InterpolationError(f"'{raw}' does not close the section opened for '{closing}'")
            return "".join(out), i
        i += 1
    if closing is not None:
        raise InterpolationError(f"the section '<<# {closing} >>' is never closed with '<</ {closing} >>'")
    return "".join(out), i


def interpolate(value: Any, env: Env, _memo: dict[int, Any] | None = None) -> Any:
    """`value` with every string in it interpolated; maps and lists are copied, keys are left alone.

    A map or list reached twice (a YAML alias) is interpolated once, so aliases cannot blow up.
    """
    if isinstance(value, str):
        return interpolate_string(value, env) if "<<" in value else value
    if isinstance(value, ExpandedSteps) or not isinstance(value, dict | list):
        return value
    memo = {} if _memo is None else _memo
    done = memo.get(id(value))
    if done is not None:
        return done[1]
    if isinstance(value, dict):
        out: Any = {k: interpolate(v, env, memo) for k, v in value.items()}
    else:
        out = [interpolate(v, env, memo) for v in value]
    memo[id(value)] = (value, out)  # keep `value` alive so its id is not reused
    return out


def has_references(value: Any) -> bool:
    """Whether any string inside `value` contains `<<`."""
    if isinstance(value, str):
        return "<<" in value
    if isinstance(value, dict):
        return any(has_references(v) for v in value.values())
    if isinstance(value, list) and not isinstance(value, ExpandedSteps):
        return any(has_references(v) for v in value)
    return False
