"""Jobs and executors: parameters bound, the executor merged in, steps expanded (CONFIG-SPEC §5, §9.4).

An executor's keys are copied into the job and any key the job sets itself wins, except
`environment`, which is merged with the job's values on top.
"""

from __future__ import annotations

from typing import Any

from rondo.config.interpolation import ExpandedSteps, InterpolationError, interpolate
from rondo.config.scopes import ElementError, Scope
from rondo.config.steps import StepExpander, _kind, parse_params
from rondo.config.yaml_source import Path

EXECUTOR_TYPES = ("docker", "machine", "macos")
JOB_KEYS = frozenset(
    {
        "docker",
        "machine",
        "macos",
        "executor",
        "steps",
        "environment",
        "working_directory",
        "parallelism",
        "resource_class",
        "shell",
        "description",
        "branches",
        "parameters",
        "type",
        "circleci_ip_ranges",
        "retention",
        "plan_name",
        "validation",
        "key",
    }
)
EXECUTOR_KEYS = frozenset(
    {
        "docker",
        "machine",
        "macos",
        "resource_class",
        "shell",
        "working_directory",
        "environment",
        "parameters",
        "description",
    }
)
JOB_TYPES = ("build", "approval", "no-op", "release", "lock", "unlock")


def _interp(value: Any, env: dict[str, Any], scope: Scope, path: Path, v21: bool) -> Any:
    if not v21:
        return value
    try:
        return interpolate(value, env)
    except InterpolationError as exc:
        raise ElementError(str(exc), scope.origin, path) from None


def merge_environment(under: Any, over: Any) -> Any:
    """Executor environment under the job's: both may be maps or `KEY=value` lists."""
    if under is None:
        return over
    if over is None:
        return under
    merged = _env_map(under)
    merged.update(_env_map(over))
    return merged


def _env_map(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list):
        out: dict[str, Any] = {}
        for item in value:
            if isinstance(item, str) and "=" in item:
                k, _, v = item.partition("=")
                out[k] = v
            elif isinstance(item, dict):
                out.update(item)
        return out
    return {}


class ResolvedExecutor(dict[str, Any]):
    """An executor argument already resolved in the scope that wrote it (the caller's)."""


class JobExpander:
    def __init__(self, steps: StepExpander) -> None:
        self.steps = steps
        self.v21 = steps.v21

    def executor(self, scope: Scope, value: Any, path: Path, depth: int = 0) -> dict[str, Any]:
        """The body of the executor a job invokes, with its parameters bound and interpolated."""
        if isinstance(value, ResolvedExecutor):
            return dict(value)
        if isinstance(value, str):
            name, args = value, {}
        elif isinstance(value, dict) and isinstance(value.get("name"), str):
            name = value["name"]
            args = {k: v for k, v in value.items() if k != "name"}
        else:
            raise ElementError(
                "Unexpected executor invocation format. The value of 'name' must be a string. Examples of correct "
                "executor invocation: `executor: string-executor-name`, `executor: {name: string-executor-name}`, "
                "`executor: << parameters.executor-type-parameter >>`",
                scope.origin,
                path,
            )
        found = scope.find("executors", name)
        if found is None:
            alias = name.split("/", 1)[0]
            if "/" in name and alias not in scope.orbs:
                raise ElementError(
                    f'Cannot find orb "{alias}". Looking for executor named "{name}".', scope.origin, path
                )
            if "/" in name:
                raise ElementError(f"Cannot find executor {name.split('/', 1)[1]} in orb {alias}", scope.origin, path)
            raise ElementError(f'Executor "{name}" does not exist', scope.origin, path)
        ex_scope, ex_name, raw = found
        where = ex_scope.path("executors", ex_name)
        if not isinstance(raw, dict):
            raise ElementError(f"executor '{ex_name}' must be a map", ex_scope.origin, where)
        unknown = [k for k in raw if k not in EXECUTOR_KEYS]
        if unknown:
            raise ElementError(f"unknown key '{unknown[0]}' in executor '{ex_name}'", ex_scope.origin, where)
        params = parse_params(raw.get("parameters"), ex_scope.origin, (*where, "parameters"))
        env = self.steps.bind_env(params, args, f"executor: '{name}'", scope, ex_scope, path, depth)
        body = {k: v for k, v in raw.items() if k not in ("parameters", "description")}
        return dict(_interp(body, env, ex_scope, where, self.v21))

    def job(
        self,
        scope: Scope,
        name: str,
        raw: Any,
        args: dict[str, Any],
        caller: Scope,
        call_path: Path,
        pre_steps: list[Any] | None = None,
        post_steps: list[Any] | None = None,
    ) -> dict[str, Any]:
        """One compiled job for one invocation (`args` already interpolated by the caller)."""
        where = scope.path("jobs", name)
        if not isinstance(raw, dict):
            raise ElementError(
                f"job '{name}' must be a map with an executor and `steps`, not {_kind(raw)}", scope.origin, where
            )
        unknown = [k for k in raw if k not in JOB_KEYS]
        if unknown:
            raise ElementError(f"unknown key '{unknown[0]}' in job '{name}'", scope.origin, (*where, unknown[0]))
        if not self.v21:
            for key in ("executor", "parameters"):
                if key in raw:
                    raise ElementError(f"`{key}` in jobs needs `version: 2.1`", scope.origin, (*where, key))
        job_type = raw.get("type", "build")
        if job_type not in JOB_TYPES:
            raise ElementError(
                f"Invalid job type '{job_type}'. Allowed types: {', '.join(JOB_TYPES)}", scope.origin, (*where, "type")
            )
        params = parse_params(raw.get("parameters"), scope.origin, (*where, "parameters"))
        for param in params:
            # An executor named by the caller is the caller's executor (an orb job given `executor: macos`).
            value = args.get(param.name)
            named_here = isinstance(value, str) and "/" not in value and caller.find("executors", value) is None
            if param.type == "executor" and isinstance(value, str | dict) and not named_here:
                resolved = ResolvedExecutor(self.executor(caller, value, (*call_path, param.name)))
                args = {**args, param.name: resolved}
        env = self.steps.bind_env(params, args, f"job: '{name}'", caller, scope, call_path, 0)
        if job_type != "build":
            body = {k: v for k, v in raw.items() if k not in ("parameters", "steps", "description")}
            return dict(_interp(body, env, scope, where, self.v21))
        body = {k: v for k, v in raw.items() if k not in ("parameters", "steps", "executor", "description")}
        body = dict(_interp(body, env, scope, where, self.v21))
        if "executor" in raw:
            ex_value = _interp(raw["executor"], env, scope, (*where, "executor"), self.v21)
            ex_body = self.executor(scope, ex_value, (*where, "executor"))
            merged = {k: v for k, v in ex_body.items() if k != "environment"}
            own_types = [k for k in EXECUTOR_TYPES if k in body]
            if own_types:
                for k in EXECUTOR_TYPES:
                    merged.pop(k, None)
            merged.update({k: v for k, v in body.items() if k != "environment"})
            environment = merge_environment(ex_body.get("environment"), body.get("environment"))
            if environment is not None:
                merged["environment"] = environment
            body = merged
        types = [k for k in EXECUTOR_TYPES if k in body]
        if not types:
            raise ElementError(
                f"job '{name}' needs an executor: `docker`, `machine`, `macos` or `executor`", scope.origin, where
            )
        if len(types) > 1:
            raise ElementError(
                f"job '{name}' has more than one executor type ({', '.join(types)}); use exactly one",
                scope.origin,
                (*where, types[1]),
            )
        parallelism = body.get("parallelism", 1)
        if isinstance(parallelism, str) and parallelism.isdigit():
            parallelism = body["parallelism"] = int(parallelism)
        if isinstance(parallelism, bool) or not isinstance(parallelism, int) or parallelism < 1:
            self.steps.problems.append(
                ElementError(
                    f"`parallelism` must be a whole number of at least 1, not {parallelism!r}",
                    scope.origin,
                    (*where, "parallelism"),
                )
            )
        steps_raw = raw.get("steps")
        steps = self.steps.expand_raw(steps_raw, scope, env, (*where, "steps"))
        if pre_steps:
            steps = list(pre_steps) + steps
        if post_steps:
            steps = steps + list(post_steps)
        out: dict[str, Any] = {types[0]: body.pop(types[0])}
        for key in ("resource_class", "shell", "working_directory", "parallelism", "environment"):
            if key in body:
                out[key] = body.pop(key)
        out.update(body)
        out["steps"] = ExpandedSteps(steps)
        return out
