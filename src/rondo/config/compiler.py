"""Compiles `.circleci/config.yml` (versions 2 and 2.1) into typed jobs and workflows, reporting every error.

`processor` expands the config to version 2 form (orbs, commands, executors, parameters, matrix,
`when`); this module reads that form into the model the engine runs, checking what is left to
check: executors, images, environment, step options and workflow entries.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from rondo.config.errors import ConfigError, ConfigErrors
from rondo.config.model import (
    BuiltinStep,
    CheckoutStep,
    CompiledConfig,
    DockerImage,
    Executor,
    Job,
    RunStep,
    Step,
    Workflow,
    WorkflowJob,
)
from rondo.config.orbs import OrbSource
from rondo.config.processor import ProcessedConfig, process_config
from rondo.config.yaml_source import compose, locate

IMAGE_KEYS = {"image", "name", "entrypoint", "command", "user", "environment", "auth", "aws_auth", "gcp_auth"}
WHEN = {"on_success", "on_fail", "always"}
REQUIRE_STATUSES = {"success", "failed", "canceled", "not_run", "unauthorized"}
DURATION = re.compile(r"^(\d+(?:\.\d+)?)([hms])$")
STEP_NAMES = {
    "checkout": "Checkout code",
    "setup_remote_docker": "Setup a remote Docker engine",
    "save_cache": "Saving Cache",
    "restore_cache": "Restoring Cache",
    "store_artifacts": "Uploading artifacts",
    "store_test_results": "Uploading test results",
    "persist_to_workspace": "Persisting to Workspace",
    "attach_workspace": "Attaching Workspace",
    "add_ssh_keys": "Add SSH Keys",
    "install_signing_bundle": "Install signing bundle",
}
_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


class _Errors:
    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.items: list[tuple[str, str]] = []

    def at(self, message: str, path: str, *_where: Any, **_kw: Any) -> None:
        self.items.append((message, path))

    def located(self, processed: ProcessedConfig, text: str) -> list[ConfigError]:
        """Errors with positions, found by mapping processed job paths back to where the job is written."""
        node = compose(text) if self.items else None
        out = []
        for message, path in self.items:
            parts: list[str | int] = [m[1] if m[1] is not None and m[2] == "" else int(m[2]) if m[2] else m[1]
                                      for m in _PATH_PART.finditer(path)]  # fmt: skip
            if len(parts) >= 2 and parts[0] == "jobs" and isinstance(parts[1], str):
                source = processed.provenance.get(parts[1])
                parts = [*source, *parts[2:]] if source else parts[:2]
            line, column = locate(node, tuple(parts))
            out.append(ConfigError(message, path, self.filename, line, column))
        return out


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "a map"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _scalar_text(value: Any) -> str | None:
    """A scalar as CircleCI writes it into the environment; None for maps and lists."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    return None


def compile_config(
    text: str,
    *,
    filename: str = ".circleci/config.yml",
    pipeline_values: Mapping[str, Any] | None = None,
    parameters: Mapping[str, Any] | None = None,
    orb_source: OrbSource | None = None,
    orb_cache: dict[str, Any] | None = None,
) -> CompiledConfig:
    """Process and compile a config; raises ConfigErrors listing every problem found."""
    processed = process_config(
        text,
        filename=filename,
        pipeline_values=pipeline_values,
        parameters=parameters,
        orb_source=orb_source,
        orb_cache=orb_cache,
        allow_errors=True,
    )
    return build(processed, text, filename)


def build(processed: ProcessedConfig, text: str, filename: str = ".circleci/config.yml") -> CompiledConfig:
    """The typed model of a processed config."""
    errors = _Errors(filename)
    doc = processed.data
    jobs = _jobs(errors, doc)
    workflows = _workflows(errors, doc, jobs)
    if errors.items or processed.errors:
        raise ConfigErrors(processed.errors + errors.located(processed, text))
    return CompiledConfig(
        version="2" if processed.version == "2.0" else processed.version,
        jobs=jobs,
        workflows=workflows,
        setup=processed.setup,
        parameters=processed.parameters,
        processed=processed,
    )


def _environment(errors: _Errors, parent: Any, key: str, path: str) -> dict[str, str]:
    raw = parent.get(key)
    if raw is None:
        return {}
    env: dict[str, str] = {}
    if isinstance(raw, str) and "=" in raw:  # a single `KEY=VALUE`
        raw = [raw]
    if isinstance(raw, list):  # `- KEY=VALUE` items, or one-key maps
        for i, item in enumerate(raw):
            if isinstance(item, Mapping) and all(_scalar_text(v) is not None for v in item.values()):
                env.update((str(k), str(_scalar_text(v))) for k, v in item.items())
                continue
            if not isinstance(item, str) or "=" not in item:
                errors.at(f"expected `NAME=value`, got {_kind(item)}", f"{path}[{i}]", raw, i)
                continue
            name, _, val = item.partition("=")
            env[name] = val
        return env
    if not isinstance(raw, Mapping):
        errors.at(f"`environment` must be a map of names to values, got {_kind(raw)}", path, parent, key, value=True)
        return {}
    for name, val in raw.items():
        text = _scalar_text(val)
        if not isinstance(name, str) or text is None:
            errors.at(f"environment variable values must be strings, numbers or booleans, got {_kind(val)}",
                      f"{path}.{name}", raw, name, value=True)  # fmt: skip
            continue
        env[name] = text
    return env


def _string(errors: _Errors, parent: Any, key: str, path: str, *, required: bool = False) -> str | None:
    if key not in parent or parent[key] is None:
        if required:
            errors.at(f"`{key}` is required", path.rsplit(".", 1)[0], parent)
        return None
    val = parent[key]
    if isinstance(val, bool) or not isinstance(val, str | int | float):
        errors.at(f"`{key}` must be a string, got {_kind(val)}", path, parent, key, value=True)
        return None
    return str(val)


def _duration(errors: _Errors, parent: Any, key: str, path: str) -> float | None:
    raw = _string(errors, parent, key, path)
    if raw is None:
        return None
    match = DURATION.match(raw)
    if not match:
        errors.at(f"`{key}` must be a duration like 10m, 1.5h or 30s, got {raw!r}", path, parent, key, value=True)
        return None
    return float(match.group(1)) * {"h": 3600, "m": 60, "s": 1}[match.group(2)]


def _jobs(errors: _Errors, doc: Mapping[str, Any]) -> dict[str, Job]:
    jobs = {}
    for name, body in (doc.get("jobs") or {}).items():
        if isinstance(body, Mapping) and body.get("type", "build") != "build":
            continue  # approval and no-op jobs have no executor or steps
        job = _job(errors, str(name), body)
        if job is not None:
            jobs[str(name)] = job
    return jobs


def _job(errors: _Errors, name: str, body: Any) -> Job | None:
    path = f"jobs.{name}"
    before = len(errors.items)
    executor = _executor(errors, body, path)
    steps = _steps(errors, body, path)
    environment = _environment(errors, body, "environment", f"{path}.environment")
    working_directory = _string(errors, body, "working_directory", f"{path}.working_directory") or "~/project"
    parallelism = body.get("parallelism", 1)
    if isinstance(parallelism, str) and parallelism.isdigit():
        parallelism = int(parallelism)
    if isinstance(parallelism, bool) or not isinstance(parallelism, int) or parallelism < 1:
        errors.at(f"`parallelism` must be a whole number of at least 1, got {parallelism!r}", f"{path}.parallelism")
        parallelism = 1
    shell = _string(errors, body, "shell", f"{path}.shell")
    if executor is None or len(errors.items) > before:
        return None
    return Job(name, executor, tuple(steps), environment, working_directory, parallelism, shell)


def _executor(errors: _Errors, body: Mapping[str, Any], path: str) -> Executor | None:
    kind = next(k for k in ("docker", "machine", "macos") if k in body)
    resource_class = _string(errors, body, "resource_class", f"{path}.resource_class") or "medium"
    shell = _string(errors, body, "shell", f"{path}.shell")
    if kind == "machine":
        machine = body["machine"]
        if machine is True:
            return Executor("machine", resource_class, shell=shell)
        if isinstance(machine, Mapping):
            unknown = [k for k in machine if k not in ("image", "docker_layer_caching", "resource_class", "shell",
                                                          "enabled")]  # fmt: skip
            if unknown:
                errors.at(f"unknown key `{unknown[0]}` in `machine`", f"{path}.machine.{unknown[0]}")
            image = _string(errors, machine, "image", f"{path}.machine.image")
            rc = _string(errors, machine, "resource_class", f"{path}.machine.resource_class") or resource_class
            return Executor("machine", rc, machine_image=image, shell=shell)
        errors.at(f"`machine` must be true or a map with `image`, got {_kind(machine)}", f"{path}.machine")
        return None
    if kind == "macos":
        macos = body["macos"]
        if not isinstance(macos, Mapping) or macos.get("xcode") is None:
            errors.at("`macos` must be a map with `xcode`: the Xcode version", f"{path}.macos")
            return None
        xcode = _string(errors, macos, "xcode", f"{path}.macos.xcode")
        return Executor("macos", resource_class, xcode=xcode, shell=shell)
    images = body["docker"]
    if not isinstance(images, list) or not images:
        errors.at(f"`docker` must be a non-empty list of images, got {_kind(images)}", f"{path}.docker")
        return None
    parsed = [_image(errors, images, i, f"{path}.docker[{i}]") for i in range(len(images))]
    if any(p is None for p in parsed):
        return None
    return Executor("docker", resource_class, docker=tuple(p for p in parsed if p is not None), shell=shell)


def _argv(errors: _Errors, parent: Any, key: str, path: str) -> tuple[str, ...] | None:
    raw = parent.get(key)
    if raw is None:
        return None
    if isinstance(raw, str):
        return (raw,)
    if isinstance(raw, list) and all(_scalar_text(x) is not None and x is not None for x in raw):
        return tuple(str(_scalar_text(x)) for x in raw)
    errors.at(f"`{key}` must be a string or a list of strings, got {_kind(raw)}", path, parent, key, value=True)
    return None


def _image(errors: _Errors, images: Any, i: int, path: str) -> DockerImage | None:
    spec = images[i]
    if not isinstance(spec, Mapping):
        errors.at(f"a docker image must be a map with `image`, got {_kind(spec)}", path, images, i)
        return None
    for key in spec:
        if key not in IMAGE_KEYS:
            errors.at(f"unknown key `{key}` in a docker image", f"{path}.{key}", spec, key)
    image = _string(errors, spec, "image", f"{path}.image", required=True)
    if image is None:
        return None
    return DockerImage(
        image=image,
        name=_string(errors, spec, "name", f"{path}.name"),
        entrypoint=_argv(errors, spec, "entrypoint", f"{path}.entrypoint"),
        command=_argv(errors, spec, "command", f"{path}.command"),
        user=_string(errors, spec, "user", f"{path}.user"),
        environment=_environment(errors, spec, "environment", f"{path}.environment"),
        auth=_auth(errors, spec, f"{path}.auth"),
        aws_auth=_aws_auth(errors, spec, f"{path}.aws_auth"),
    )


def _auth(errors: _Errors, spec: Mapping[str, Any], path: str) -> dict[str, str] | None:
    raw = spec.get("auth")
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or not all(isinstance(raw.get(k), str) for k in ("username", "password")):
        errors.at("`auth` needs `username` and `password` strings", path)
        return None
    return {"username": raw["username"], "password": raw["password"]}


def _aws_auth(errors: _Errors, spec: Mapping[str, Any], path: str) -> dict[str, str] | None:
    """ECR login: access keys (`aws_access_key_id`, `aws_secret_access_key`) or an OIDC role (`oidc_role_arn`)."""
    raw = spec.get("aws_auth")
    if raw is None:
        return None
    keys = ("aws_access_key_id", "aws_secret_access_key")
    if isinstance(raw, Mapping) and set(raw) == {"oidc_role_arn"} and isinstance(raw["oidc_role_arn"], str):
        return {"oidc_role_arn": raw["oidc_role_arn"]}
    if not isinstance(raw, Mapping) or set(raw) != set(keys) or not all(isinstance(raw[k], str) for k in keys):
        errors.at("`aws_auth` needs `aws_access_key_id` and `aws_secret_access_key` strings, or `oidc_role_arn`", path)
        return None
    return {k: raw[k] for k in keys}


def _steps(errors: _Errors, body: Mapping[str, Any], path: str) -> list[Step]:
    raw = body.get("steps") or []
    steps = []
    for i, item in enumerate(raw):
        step = _step(errors, item, f"{path}.steps[{i}]")
        if step is not None:
            steps.append(step)
    return steps


def _step(errors: _Errors, item: Any, path: str) -> Step | None:
    if isinstance(item, str):
        kind, args = item, None
    else:
        kind, args = next(iter(item.items()))
    if kind == "checkout":
        args = args or {}
        return CheckoutStep(
            name=str(args.get("name") or STEP_NAMES["checkout"]),
            path=_string(errors, args, "path", f"{path}.checkout.path"),
        )
    if kind in ("run", "deploy"):
        return _run(errors, args, f"{path}.{kind}")
    args = dict(args or {})
    name = str(args.pop("name", None) or STEP_NAMES.get(kind, kind))
    when: Any = args.pop("when", "on_success") if kind == "save_cache" else "on_success"
    if kind in ("store_artifacts", "store_test_results"):
        when = "always"  # they run after a failed step too (CONFIG-SPEC §6.1.1)
    return BuiltinStep(type=kind, name=name, options=args, when=when)


def _run(errors: _Errors, args: Any, path: str) -> RunStep | None:
    if isinstance(args, str):
        return RunStep(command=args, name=_first_line(args))
    before = len(errors.items)
    command = _string(errors, args, "command", f"{path}.command") or ""
    when = args.get("when", "on_success")
    step = RunStep(
        command=command,
        name=_string(errors, args, "name", f"{path}.name") or _first_line(command),
        shell=_string(errors, args, "shell", f"{path}.shell"),
        environment=_environment(errors, args, "environment", f"{path}.environment"),
        working_directory=_string(errors, args, "working_directory", f"{path}.working_directory"),
        background=bool(args.get("background", False)),
        when=when if when in WHEN else "on_success",
        no_output_timeout_s=_duration(errors, args, "no_output_timeout", f"{path}.no_output_timeout"),
        max_auto_reruns=int(args.get("max_auto_reruns") or 0),
        auto_rerun_delay_s=_duration(errors, args, "auto_rerun_delay", f"{path}.auto_rerun_delay") or 0.0,
    )
    return step if len(errors.items) == before else None


def _first_line(command: str) -> str:
    lines = [line for line in command.strip().splitlines() if line.strip()]
    return lines[0].strip() if lines else command


def _workflows(errors: _Errors, doc: Mapping[str, Any], jobs: Mapping[str, Job]) -> tuple[Workflow, ...]:
    workflows = []
    for name, body in (doc.get("workflows") or {}).items():
        if name == "version":
            continue
        entries = []
        for i, item in enumerate(body["jobs"]):
            entry = _invocation(errors, item, f"workflows.{name}.jobs[{i}]", jobs)
            if entry is not None:
                entries.append(entry)
        triggers = body.get("triggers") or []
        bad = [triggers] if not isinstance(triggers, list) else [t for t in triggers if not isinstance(t, Mapping)]
        if bad:
            errors.at(f"`triggers` must be a list of `{{schedule: {{cron: …, filters: …}}}}` maps, got {_kind(bad[0])}",
                      f"workflows.{name}.triggers")  # fmt: skip
            triggers = []
        reruns = body.get("max_auto_reruns", 0)
        if isinstance(reruns, bool) or not isinstance(reruns, int) or not 0 <= reruns <= 5:
            errors.at("`max_auto_reruns` must be a whole number from 1 to 5", f"workflows.{name}.max_auto_reruns")
            reruns = 0
        workflows.append(Workflow(str(name), tuple(entries), tuple(triggers), reruns))
    return tuple(workflows)


def _invocation(errors: _Errors, item: Any, path: str, jobs: Mapping[str, Job]) -> WorkflowJob | None:
    if isinstance(item, str):
        key, opts = item, {}
    else:
        key, opts = next(iter(item.items()))
    kind: Literal["build", "approval", "no-op"] = "build"
    if opts.get("type") == "approval":
        kind = "approval"
    elif opts.get("type") == "no-op":
        kind = "no-op"
    if kind == "build" and key not in jobs:
        return None  # its job had errors, reported already
    name = str(opts.get("name", key))
    requires = _requires(errors, opts, f"{path}.requires")
    filters = opts.get("filters")
    if filters is not None and not isinstance(filters, Mapping | str):
        errors.at(f"`filters` must be a map of branches/tags or an expression, got {_kind(filters)}", f"{path}.filters")
        filters = None
    if isinstance(filters, Mapping):
        filters = _filters(errors, filters, f"{path}.filters")
    group = opts.get("serial-group")
    if group is not None and (not isinstance(group, str) or not re.fullmatch(r"[A-Za-z0-9._/-]{1,512}", group)):
        errors.at("`serial-group` must be 1 to 512 characters of letters, digits, '.', '_', '/' and '-'",
                  f"{path}.serial-group")  # fmt: skip
        group = None
    return WorkflowJob(
        name,
        key,
        requires,
        tuple(opts.get("context") or ()),
        kind,
        filters,
        group,
    )


def _filters(errors: _Errors, filters: Mapping[str, Any], path: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind, rules in filters.items():
        if kind not in ("branches", "tags"):
            errors.at(f"unknown filter `{kind}`; filters have `branches` and `tags`", f"{path}.{kind}")
            continue
        if not isinstance(rules, Mapping) or set(rules) - {"only", "ignore"}:
            errors.at(f"`{kind}` filters are a map with `only` and/or `ignore`", f"{path}.{kind}")
            continue
        checked: dict[str, list[str]] = {}
        for key, value in rules.items():
            values = value if isinstance(value, list) else [value]
            texts = [v if isinstance(v, str) else _scalar_text(v) for v in values]
            if any(t is None for t in texts):
                errors.at(f"`{kind}.{key}` must be a name, a /regex/ or a list of them", f"{path}.{kind}.{key}")
                continue
            for t in texts:
                if t and len(t) >= 2 and t.startswith("/") and t.endswith("/"):
                    try:
                        re.compile(t[1:-1])
                    except re.error as exc:
                        errors.at(f"`{t}` is not a valid regular expression: {exc}", f"{path}.{kind}.{key}")
            checked[key] = [str(t) for t in texts]
        out[kind] = checked
    return out


def _requires(errors: _Errors, opts: Mapping[str, Any], path: str) -> dict[str, tuple[str, ...]]:
    raw = opts.get("requires")
    if raw is None:
        return {}
    if not isinstance(raw, list):
        errors.at(f"`requires` must be a list of job names, got {_kind(raw)}", path, opts, "requires", value=True)
        return {}
    result: dict[str, tuple[str, ...]] = {}
    for i, item in enumerate(raw):
        if isinstance(item, str):
            result[item] = ("success",)
            continue
        if isinstance(item, Mapping) and len(item) == 1:
            name, statuses = next(iter(item.items()))
            statuses = [statuses] if isinstance(statuses, str) else statuses
            if isinstance(statuses, list) and statuses and all(s in REQUIRE_STATUSES for s in statuses):
                result[str(name)] = tuple(statuses)
                continue
            errors.at(f"statuses for `{name}` must be among {', '.join(sorted(REQUIRE_STATUSES))}",
                      f"{path}[{i}]", raw, i)  # fmt: skip
            continue
        errors.at(f"a required job is a job name, got {_kind(item)}", f"{path}[{i}]", raw, i)
    return result
