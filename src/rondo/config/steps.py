"""Steps: built-in steps checked, commands expanded in place, `when`/`unless` and `steps` splices resolved.

Expansion happens in the scope that wrote the steps: a command's steps see only the command's own
parameters, while a `steps` argument is expanded where it was written, then spliced (CONFIG-SPEC
§6, §9.3, §9.5). The result is a flat list of built-in steps in the form `circleci config process`
prints.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from rondo.config import logic
from rondo.config.interpolation import ExpandedSteps, InterpolationError, interpolate
from rondo.config.parameters import Parameter, ParameterError, bind, parse_declarations
from rondo.config.scopes import ElementError, Origin, Scope
from rondo.config.yaml_source import Path

RUN_KEYS = frozenset(
    {
        "command",
        "name",
        "shell",
        "environment",
        "working_directory",
        "background",
        "when",
        "no_output_timeout",
        "max_auto_reruns",
        "auto_rerun_delay",
    }
)
BUILTIN_KEYS: dict[str, frozenset[str]] = {
    "run": RUN_KEYS,
    "deploy": RUN_KEYS,
    "checkout": frozenset({"path", "method", "depth", "name"}),
    "setup_remote_docker": frozenset({"docker_layer_caching", "version", "reusable", "prefer_same_region", "name"}),
    "save_cache": frozenset({"paths", "key", "name", "when"}),
    "restore_cache": frozenset({"key", "keys", "name"}),
    # CircleCI accepts (and ignores) `when` on these; real configs carry it.
    "store_artifacts": frozenset({"path", "destination", "name", "when"}),
    "store_test_results": frozenset({"path", "name", "when"}),
    "persist_to_workspace": frozenset({"root", "paths", "name", "when"}),
    "attach_workspace": frozenset({"at", "name", "when"}),
    "add_ssh_keys": frozenset({"fingerprints", "name"}),
    "install_signing_bundle": frozenset(),
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "save_cache": ("paths", "key"),
    "persist_to_workspace": ("root", "paths"),
    "attach_workspace": ("at",),
    "store_artifacts": ("path",),
    "store_test_results": ("path",),
}
NO_ARGS_OK = frozenset({"checkout", "setup_remote_docker", "add_ssh_keys", "install_signing_bundle"})
WHEN = ("on_success", "on_fail", "always")
DURATION = re.compile(r"^\d+(\.\d+)?[hms]$")
MAX_DEPTH = 40
MAX_STEPS = 20_000


class StepExpander:
    """Expands step lists for one compile; counts what it produces to bound runaway configs."""

    def __init__(self, v21: bool, declarations: Callable[[Any, Origin, Path], list[Parameter]]) -> None:
        self.v21 = v21
        self.declarations = declarations
        self.produced = 0
        self.problems: list[ElementError] = []  # errors that do not stop the element they are in

    def expand_raw(self, raw: Any, scope: Scope, env: dict[str, Any], path: Path, depth: int = 0) -> list[Any]:
        """Interpolate steps written in `scope`, then expand them."""
        if isinstance(raw, ExpandedSteps):
            self.produced += len(raw)
            return list(raw)
        if raw is None:
            return []
        if not isinstance(raw, list):
            raise ElementError(f"`steps` must be a list of steps, not {_kind(raw)}", scope.origin, path)
        if self.v21:
            items = []
            for i, item in enumerate(raw):
                try:
                    items.append(interpolate(item, env))
                except InterpolationError as exc:
                    raise ElementError(str(exc), scope.origin, (*path, i)) from None
            raw = items
        return self.expand(raw, scope, path, depth)

    def expand(self, steps: list[Any], scope: Scope, path: Path, depth: int = 0) -> list[Any]:
        """Expand steps that are already interpolated."""
        if depth > MAX_DEPTH:
            raise ElementError(
                f"steps nest more than {MAX_DEPTH} levels deep; does a command call itself?", scope.origin, path
            )
        out: list[Any] = []
        for i, step in enumerate(steps):
            self._one(step, scope, (*path, i), depth, out)
            if self.produced > MAX_STEPS:
                raise ElementError(
                    f"expanding this config produces more than {MAX_STEPS} steps (counting command calls and "
                    "spliced steps)",
                    scope.origin,
                    (*path, i),
                )
        return out

    def _one(self, step: Any, scope: Scope, path: Path, depth: int, out: list[Any]) -> None:
        # Every step written counts, not only built-ins: commands that fan out to nothing must stop too.
        self.produced += 1
        if isinstance(step, str):
            name, args = step, None
        elif isinstance(step, dict) and len(step) == 1:
            name, args = next(iter(step.items()))
        elif isinstance(step, dict) and not step:
            raise ElementError("a step cannot be an empty map", scope.origin, path)
        elif isinstance(step, dict):
            keys = ", ".join(map(str, step))
            raise ElementError(
                f"a step is a map with exactly one key (the step type), found {keys}; is a key mis-indented?",
                scope.origin,
                path,
            )
        else:
            raise ElementError(f"a step is a step name or a one-key map, not {_kind(step)}", scope.origin, path)
        if not isinstance(name, str):
            raise ElementError(f"a step name must be a string, not {_kind(name)}", scope.origin, path)
        if self.v21:
            if name == "steps":
                self._splice(args, scope, (*path, "steps"), depth, out)
                return
            if name in ("when", "unless"):
                self._conditional(name, args, scope, (*path, name), depth, out)
                return
            found = scope.find("commands", name)
            if found is not None:
                self._command(name, found, args, scope, path, depth, out)
                return
        if name in BUILTIN_KEYS:
            out.append(self._builtin(name, args, step, scope, path))
            return
        if "/" in name and self.v21 and scope.orbs.get(name.split("/", 1)[0]) is None:
            raise ElementError(
                f"Cannot find a definition for command named {name}: no orb is imported as '{name.split('/', 1)[0]}'",
                scope.origin,
                path,
            )
        raise ElementError(f"Cannot find a definition for command named {name}", scope.origin, path)

    def _splice(self, value: Any, scope: Scope, path: Path, depth: int, out: list[Any]) -> None:
        if isinstance(value, ExpandedSteps):
            self.produced += len(value)  # a splice repeats steps already counted: doubling must stop too
            out.extend(value)
        elif value is None:
            return
        elif isinstance(value, list):
            out.extend(self.expand(value, scope, path, depth + 1))
        else:
            raise ElementError(
                f"`steps` here takes a steps parameter (`<< parameters.x >>`); got {_kind(value)}. "
                "Parameter type is not steps",
                scope.origin,
                path,
            )

    def _conditional(self, kind: str, args: Any, scope: Scope, path: Path, depth: int, out: list[Any]) -> None:
        if not isinstance(args, dict) or "condition" not in args or "steps" not in args:
            raise ElementError(f"a `{kind}` step needs `condition` and `steps`", scope.origin, path)
        unknown = set(args) - {"condition", "steps"}
        if unknown:
            raise ElementError(
                f"unknown key(s) {', '.join(map(str, sorted(unknown)))} in `{kind}`; allowed: condition, steps",
                scope.origin,
                path,
            )
        try:
            holds = logic.evaluate(args["condition"])
        except logic.LogicError as exc:
            raise ElementError(str(exc), scope.origin, (*path, "condition")) from None
        if holds == (kind == "when"):
            inner = args["steps"]
            if isinstance(inner, ExpandedSteps):
                self.produced += len(inner)
                out.extend(inner)
            elif isinstance(inner, list):
                out.extend(self.expand(inner, scope, (*path, "steps"), depth + 1))
            elif inner is not None:
                self._one(inner, scope, (*path, "steps"), depth + 1, out)

    def _command(
        self, name: str, found: tuple[Scope, str, Any], args: Any, caller: Scope, path: Path, depth: int, out: list[Any]
    ) -> None:
        cmd_scope, cmd_name, raw = found
        where = cmd_scope.path("commands", cmd_name)
        if not isinstance(raw, dict):
            raise ElementError(f"command '{cmd_name}' must be a map with `steps`", cmd_scope.origin, where)
        if args is not None and not isinstance(args, dict):
            raise ElementError(
                f"the arguments of command '{name}' must be a map of parameter names to values, not {_kind(args)}",
                caller.origin,
                path,
            )
        params = self.declarations(raw.get("parameters"), cmd_scope.origin, (*where, "parameters"))
        env = self.bind_env(params, args or {}, f"command: '{name}'", caller, cmd_scope, path, depth)
        if "steps" not in raw:
            raise ElementError(f"command '{cmd_name}' has no `steps`", cmd_scope.origin, where)
        out.extend(self.expand_raw(raw["steps"], cmd_scope, env, (*where, "steps"), depth + 1))

    def bind_env(
        self,
        params: list[Parameter],
        args: dict[str, Any],
        owner: str,
        caller: Scope,
        callee: Scope,
        path: Path,
        depth: int,
    ) -> dict[str, Any]:
        """The callee's `<< >>` environment: its scope's values plus `parameters.*` bound from `args`."""
        try:
            values = bind(params, args, owner)
        except ParameterError as exc:
            raise ElementError(exc.message, caller.origin, (*path, exc.key) if exc.key else path) from None
        env = dict(callee.env)
        for param in params:
            value = values.get(param.name)
            if param.type == "steps" and value is not None and not isinstance(value, ExpandedSteps):
                if param.name in args:  # written by the caller, already interpolated there
                    value = ExpandedSteps(self.expand(value, caller, (*path, param.name), depth + 1))
                else:  # the default, written in the callee
                    value = ExpandedSteps(self.expand_raw(value, callee, callee.env, path, depth + 1))
            elif param.name not in args and isinstance(value, str) and "<<" in value:
                try:
                    value = interpolate(value, callee.env)
                except InterpolationError as exc:
                    raise ElementError(str(exc), callee.origin, path) from None
            env[f"parameters.{param.name}"] = value
        return env

    def _builtin(self, name: str, args: Any, step: Any, scope: Scope, path: Path) -> Any:
        if args is None:
            if name in NO_ARGS_OK:
                return name
            if name == "store_test_results":
                raise ElementError("Path must be specified for `store_test_results` step", scope.origin, path)
            raise ElementError(f"the `{name}` step needs arguments", scope.origin, path)
        if name in ("run", "deploy") and isinstance(args, str):
            return step
        if name == "install_signing_bundle":
            raise ElementError("`install_signing_bundle` takes no arguments", scope.origin, path)
        if not isinstance(args, dict):
            raise ElementError(f"the `{name}` step takes a map of options, not {_kind(args)}", scope.origin, path)
        allowed = BUILTIN_KEYS[name]
        unknown = [k for k in args if k not in allowed]
        if unknown:
            raise ElementError(
                f"unknown key '{unknown[0]}' in the `{name}` step; allowed: {', '.join(sorted(allowed))}",
                scope.origin,
                (*path, name, str(unknown[0])),
            )
        for key in REQUIRED.get(name, ()):
            if args.get(key) is None:
                raise ElementError(f"the `{name}` step needs `{key}`", scope.origin, (*path, name))
        if name in ("run", "deploy"):
            _check_run(args, scope, (*path, name))
        elif name == "restore_cache" and args.get("key") is None and not args.get("keys"):
            raise ElementError("the `restore_cache` step needs `key` or `keys`", scope.origin, (*path, name))
        elif name == "save_cache" and args.get("when", "on_success") not in WHEN:
            raise ElementError(
                f"Invalid when condition: expected `on_success`, `always`, `on_fail`; got `{args['when']}`",
                scope.origin,
                (*path, name, "when"),
            )
        elif name == "checkout":
            _check_checkout(args, scope, (*path, name))
        return {name: args}


def _check_run(args: dict[str, Any], scope: Scope, path: Path) -> None:
    if args.get("command") is None:
        raise ElementError("a `run` step needs `command`: the script to run", scope.origin, path)
    if not isinstance(args["command"], str):
        raise ElementError(f"`command` must be a string, not {_kind(args['command'])}", scope.origin, path)
    when = args.get("when", "on_success")
    if when not in WHEN:
        raise ElementError(
            f"Invalid when condition: expected `on_success`, `always`, `on_fail`; got `{when}`",
            scope.origin,
            (*path, "when"),
        )
    timeout = args.get("no_output_timeout")
    if timeout is not None and not DURATION.match(str(timeout)):
        raise ElementError(
            f"`no_output_timeout` must be a duration like 10m, 1.5h or 30s, got '{timeout}'",
            scope.origin,
            (*path, "no_output_timeout"),
        )
    background = args.get("background", False)
    if not isinstance(background, bool):
        raise ElementError("`background` must be true or false", scope.origin, (*path, "background"))
    reruns = args.get("max_auto_reruns")
    if background and (reruns is not None or "auto_rerun_delay" in args):
        raise ElementError("Background steps cannot use max_auto_reruns or auto_rerun_delay fields", scope.origin, path)
    if reruns is not None and (isinstance(reruns, bool) or not isinstance(reruns, int) or not 1 <= reruns <= 5):
        raise ElementError("max_auto_reruns must be between 1 and 5", scope.origin, (*path, "max_auto_reruns"))
    delay = args.get("auto_rerun_delay")
    if delay is not None:
        if reruns is None:
            raise ElementError("auto_rerun_delay requires max_auto_reruns to be specified", scope.origin, path)
        m = re.fullmatch(r"(\d+)([ms])", str(delay))
        if m is None or int(m[1]) == 0:
            raise ElementError(
                "auto_rerun_delay must be in the format of 1-10 minutes (e.g., '1m', '10m') or any number of "
                "seconds (e.g., '30s', '120s')",
                scope.origin,
                (*path, "auto_rerun_delay"),
            )
        if (int(m[1]) * (60 if m[2] == "m" else 1)) > 600:
            raise ElementError("auto_rerun_delay must not exceed 10 minutes", scope.origin, (*path, "auto_rerun_delay"))


def _check_checkout(args: dict[str, Any], scope: Scope, path: Path) -> None:
    method = args.get("method")
    if method is not None and method not in ("full", "blobless", "shallow"):
        raise ElementError(f"Checkout method '{method}' is invalid", scope.origin, (*path, "method"))
    depth = args.get("depth")
    if depth is not None:
        if isinstance(depth, bool) or not isinstance(depth, int):
            raise ElementError("Checkout depth is not an integer", scope.origin, (*path, "depth"))
        if method != "shallow":
            raise ElementError(
                "Checkout depth can only be used with the shallow checkout method", scope.origin, (*path, "depth")
            )
        if depth < 1:
            raise ElementError(
                "Checkout depth must be a positive integer when using the shallow checkout method",
                scope.origin,
                (*path, "depth"),
            )


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return f"the string '{value}'" if len(value) < 40 else "a string"
    if isinstance(value, dict):
        return "a map"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def parse_params(raw: Any, origin: Origin, path: Path) -> list[Parameter]:
    """Declarations of an element, with errors pointed at the declaration."""
    try:
        return parse_declarations(raw)
    except ParameterError as exc:
        raise ElementError(exc.message, origin, (*path, exc.key) if exc.key else path) from None
