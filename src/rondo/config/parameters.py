"""Parameter declarations of jobs, commands, executors and pipelines, and binding arguments to them.

Types and their checks follow CONFIG-SPEC §9.1: string, boolean, integer, enum, executor, steps,
env_var_name. A parameter without a default is required; an argument nobody declared is an error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

TYPES = ("string", "boolean", "integer", "enum", "executor", "steps", "env_var_name")
PIPELINE_TYPES = ("string", "boolean", "integer", "enum")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
_ENV_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DECL_KEYS = {"type", "default", "description", "enum"}
_MISSING = object()


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str
    default: Any = _MISSING
    enum: tuple[str, ...] = ()

    @property
    def required(self) -> bool:
        return self.default is _MISSING


class ParameterError(Exception):
    """A bad declaration or argument. `key` names the parameter or argument it is about, if one."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.key = key


def describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"{'true' if value else 'false'} (type boolean)"
    if isinstance(value, int):
        return f"{value} (type integer)"
    if isinstance(value, float):
        return f"{value} (type number)"
    if isinstance(value, str):
        return f"'{value}' (type string)"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a map"
    return type(value).__name__


def parse_declarations(raw: Any, *, allowed: tuple[str, ...] = TYPES, pipeline: bool = False) -> list[Parameter]:
    """Check a `parameters:` map and return its declarations; raises ParameterError on the first problem."""
    if raw is None:
        return []
    if not isinstance(raw, dict):
        raise ParameterError(f"'parameters' must be a map of parameter declarations, not {describe(raw)}")
    out: list[Parameter] = []
    for name, decl in raw.items():
        if not isinstance(name, str) or not _NAME.match(name):
            raise ParameterError(
                f"parameter name '{name}' must start with a letter and contain only letters, digits, '_' and '-'",
                str(name),
            )
        if not isinstance(decl, dict):
            raise ParameterError(f"parameter '{name}' must be a map with at least 'type'", name)
        unknown = set(decl) - _DECL_KEYS
        if unknown:
            raise ParameterError(
                f"parameter '{name}' has unknown key(s) {', '.join(sorted(map(str, unknown)))}; "
                "allowed: type, default, description, enum",
                name,
            )
        kind = decl.get("type")
        if kind not in allowed:
            raise ParameterError(
                f"parameter '{name}' has type {describe(kind)}; expected one of {', '.join(allowed)}", name
            )
        enum: tuple[str, ...] = ()
        if kind == "enum":
            values = decl.get("enum")
            if not isinstance(values, list) or not values:
                raise ParameterError(f"enum parameter '{name}' needs 'enum': a non-empty list of allowed values", name)
            enum = tuple(_text_of(v) for v in values)
        if pipeline and "default" not in decl:
            raise ParameterError(f"pipeline parameter '{name}' needs a 'default'", name)
        param = Parameter(name, kind, decl.get("default", _MISSING), enum)
        if not param.required and param.default is not None:
            try:
                param = Parameter(name, kind, check(param, param.default, "default value of"), enum)
            except ParameterError as exc:
                if kind == "enum":
                    raise ParameterError(
                        f"Default value {_text_of(param.default)} is not in enum '{', '.join(enum)}' "
                        f"of parameter '{name}'",
                        name,
                    ) from None
                raise exc
        out.append(param)
    return out


def _text_of(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def check(param: Parameter, value: Any, what: str = "argument") -> Any:
    """The value, type-checked (and numbers turned into text where a string is wanted)."""
    kind = param.type
    ok = True
    if kind in ("string", "env_var_name"):
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        ok = isinstance(value, str)
        if ok and kind == "env_var_name" and value and not _ENV_VAR.match(value) and "<<" not in value:
            raise ParameterError(
                f"Parameter error: {what} parameter '{param.name}' is '{value}': expected a POSIX environment "
                "variable name (letters, digits and '_', not starting with a digit)",
                param.name,
            )
    elif kind == "boolean":
        ok = isinstance(value, bool)
    elif kind == "integer":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind == "enum":
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or value not in param.enum:
            raise ParameterError(
                f"Parameter error: {what} parameter '{param.name}' is {describe(value)}: expected one of "
                f"{', '.join(param.enum)}",
                param.name,
            )
    elif kind == "steps":
        ok = isinstance(value, list)
    elif kind == "executor":
        ok = isinstance(value, str | dict)
    if not ok:
        expected = {
            "string": "string",
            "env_var_name": "string",
            "boolean": "boolean",
            "integer": "integer",
            "steps": "a list of steps",
            "executor": "an executor name or {name: executor, …}",
        }[kind]
        raise ParameterError(
            f"Parameter error: {what} parameter '{param.name}' is {describe(value)}: expected type {expected}",
            param.name,
        )
    return value


def bind(params: list[Parameter], args: Mapping[str, Any], owner: str) -> dict[str, Any]:
    """Arguments checked against declarations, with defaults filled in.

    Returns a map of parameter name to value. Raises ParameterError listing every unexpected,
    missing or mistyped argument of this call.
    """
    declared = {p.name for p in params}
    unexpected = [k for k in args if k not in declared]
    problems: list[str] = []
    if unexpected:
        problems.append(f"Unexpected argument(s): {', '.join(map(str, unexpected))}")
    values: dict[str, Any] = {}
    missing: list[str] = []
    for param in params:
        if param.name in args:
            try:
                values[param.name] = check(param, args[param.name])
            except ParameterError as exc:
                problems.append(exc.message)
        elif param.required:
            missing.append(param.name)
        else:
            values[param.name] = param.default
    if missing:
        problems.append(f"Missing required argument(s): {', '.join(missing)}")
    if problems:
        raise ParameterError(
            f"Error calling {owner}: " + "; ".join(problems), str(unexpected[0]) if unexpected else None
        )
    return values
