"""Compiles `.circleci/config.yml` (versions 2 and 2.1) into jobs and workflows, reporting every error.

This is the walking skeleton's subset: machine and docker jobs, `checkout` and `run` steps,
`environment`, and workflows with `requires`. Orbs, commands, executors, parameters, matrix and
`when` come with the complete compiler; they are rejected here with a message that says so.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from rondo.config.errors import ConfigError, ConfigErrors
from rondo.config.loader import load_yaml, position, value_position
from rondo.config.model import (
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

NOT_YET = {"orbs", "commands", "executors", "parameters", "setup"}
JOB_KEYS = {"docker", "machine", "macos", "executor", "steps", "environment", "working_directory",
            "parallelism", "resource_class", "shell", "description", "branches", "parameters", "type",
            "circleci_ip_ranges", "retention"}  # fmt: skip
RUN_KEYS = {"command", "name", "shell", "environment", "working_directory", "background", "when",
            "no_output_timeout", "max_auto_reruns", "auto_rerun_delay"}  # fmt: skip
IMAGE_KEYS = {"image", "name", "entrypoint", "command", "user", "environment", "auth", "aws_auth"}
INVOCATION_KEYS = {"requires", "name", "context", "type", "filters"}
REQUIRE_STATUSES = {"success", "failed", "canceled", "not_run", "unauthorized"}
WHEN = {"on_success", "on_fail", "always"}
DURATION = re.compile(r"^(\d+(?:\.\d+)?)([hms])$")
DEFAULT_WORKFLOW = "workflow"


class _Errors:
    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.items: list[ConfigError] = []

    def at(
        self, message: str, path: str, parent: Any = None, key: str | int | None = None, *, value: bool = False
    ) -> None:
        if value and key is not None:
            line, col = value_position(parent, key)
        else:
            line, col = position(parent, key)
        self.items.append(ConfigError(message, path, self.filename, line, col))


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


def compile_config(text: str, *, filename: str = ".circleci/config.yml") -> CompiledConfig:
    errors = _Errors(filename)
    doc, parse_errors = load_yaml(text, filename)
    if parse_errors:
        raise ConfigErrors(parse_errors)
    if not isinstance(doc, Mapping):
        errors.at(f"the config must be a map with `version`, `jobs` and `workflows`, got {_kind(doc)}", "")
        raise ConfigErrors(errors.items)
    version = _version(errors, doc)
    for key in doc:
        if key in NOT_YET:
            errors.at(f"`{key}` is not supported by this Rondo version yet", str(key), doc, key)
    jobs = _jobs(errors, doc)
    workflows = _workflows(errors, doc, jobs)
    if errors.items:
        raise ConfigErrors(errors.items)
    return CompiledConfig(version=version, jobs=jobs, workflows=workflows)


def _version(errors: _Errors, doc: Mapping[str, Any]) -> str:
    if "version" not in doc:
        errors.at("`version` is required: 2 or 2.1", "version", doc)
        return "2"
    raw = doc["version"]
    text = _scalar_text(raw) if not isinstance(raw, bool) else None
    if text not in ("2", "2.0", "2.1"):
        errors.at(f"`version` must be 2 or 2.1, got {raw!r}", "version", doc, "version", value=True)
        return "2"
    return "2" if text == "2.0" else str(text)


def _environment(errors: _Errors, parent: Any, key: str, path: str) -> dict[str, str]:
    raw = parent.get(key)
    if raw is None:
        return {}
    env: dict[str, str] = {}
    if isinstance(raw, list):  # `- KEY=VALUE` items
        for i, item in enumerate(raw):
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
    raw = doc.get("jobs")
    if raw is None:
        if "workflows" in doc or "jobs" not in doc:
            errors.at("`jobs` is required: a map of job names to jobs", "jobs", doc, "jobs" if "jobs" in doc else None)
        return {}
    if not isinstance(raw, Mapping):
        errors.at(f"`jobs` must be a map of job names to jobs, got {_kind(raw)}", "jobs", doc, "jobs", value=True)
        return {}
    jobs = {}
    for name, body in raw.items():
        job = _job(errors, raw, str(name), body)
        if job is not None:
            jobs[str(name)] = job
    return jobs


def _job(errors: _Errors, parent: Any, name: str, body: Any) -> Job | None:
    path = f"jobs.{name}"
    if not isinstance(body, Mapping):
        errors.at(
            f"a job must be a map with an executor and `steps`, got {_kind(body)}", path, parent, name, value=True
        )
        return None
    before = len(errors.items)
    for key in body:
        if key not in JOB_KEYS:
            errors.at(f"unknown key `{key}` in job `{name}`", f"{path}.{key}", body, key)
        elif key in ("macos", "executor", "parameters"):
            errors.at(f"`{key}` in jobs is not supported by this Rondo version yet", f"{path}.{key}", body, key)
    job_type = body.get("type", "build")
    if job_type != "build":
        errors.at(f"job type {job_type!r} is not supported by this Rondo version yet", f"{path}.type", body, "type")
    executor = _executor(errors, body, path, (parent, name))
    steps = _steps(errors, body, path)
    environment = _environment(errors, body, "environment", f"{path}.environment")
    working_directory = _string(errors, body, "working_directory", f"{path}.working_directory") or "~/project"
    parallelism = body.get("parallelism", 1)
    if isinstance(parallelism, bool) or not isinstance(parallelism, int) or parallelism < 1:
        errors.at(f"`parallelism` must be a whole number of at least 1, got {parallelism!r}", f"{path}.parallelism",
                  body, "parallelism", value=True)  # fmt: skip
        parallelism = 1
    if executor is None or len(errors.items) > before:
        return None
    return Job(name, executor, tuple(steps), environment, working_directory, parallelism)


def _executor(errors: _Errors, body: Mapping[str, Any], path: str, where: tuple[Any, str]) -> Executor | None:
    kinds = [k for k in ("docker", "machine", "macos", "executor") if k in body]
    if not kinds:
        errors.at("a job needs an executor: `docker` or `machine`", path, *where)
        return None
    if len(kinds) > 1:
        errors.at(f"a job has exactly one executor, found {', '.join(kinds)}", f"{path}.{kinds[1]}", body, kinds[1])
        return None
    resource_class = _string(errors, body, "resource_class", f"{path}.resource_class") or "medium"
    if kinds[0] == "machine":
        machine = body["machine"]
        if machine is True:
            return Executor("machine", resource_class)
        if isinstance(machine, Mapping):
            image = _string(errors, machine, "image", f"{path}.machine.image")
            return Executor("machine", resource_class, machine_image=image)
        errors.at(f"`machine` must be true or a map with `image`, got {machine!r}", f"{path}.machine", body,
                  "machine", value=True)  # fmt: skip
        return None
    if kinds[0] != "docker":
        return None
    images = body["docker"]
    if not isinstance(images, list) or not images:
        errors.at(
            f"`docker` must be a list of images, got {_kind(images)}", f"{path}.docker", body, "docker", value=True
        )
        return None
    parsed = [_image(errors, images, i, f"{path}.docker[{i}]") for i in range(len(images))]
    if any(p is None for p in parsed):
        return None
    return Executor("docker", resource_class, docker=tuple(p for p in parsed if p is not None))


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
    )


def _steps(errors: _Errors, body: Mapping[str, Any], path: str) -> list[Step]:
    raw = body.get("steps")
    if not isinstance(raw, list) or not raw:
        errors.at(f"`steps` must be a non-empty list, got {_kind(raw)}", f"{path}.steps", body,
                  "steps" if "steps" in body else None, value="steps" in body)  # fmt: skip
        return []
    steps = []
    for i, item in enumerate(raw):
        step = _step(errors, raw, i, item, f"{path}.steps[{i}]")
        if step is not None:
            steps.append(step)
    return steps


def _step(errors: _Errors, parent: Any, i: int, item: Any, path: str) -> Step | None:
    if item == "checkout":
        return CheckoutStep()
    if isinstance(item, str):
        errors.at(f"step type `{item}` is not supported by this Rondo version yet", path, parent, i)
        return None
    if not isinstance(item, Mapping) or len(item) != 1:
        errors.at(f"a step is a step name or a map with one step name, got {_kind(item)}", path, parent, i)
        return None
    kind, args = next(iter(item.items()))
    if kind == "checkout":
        if args is not None and not isinstance(args, Mapping):
            errors.at(
                f"`checkout` takes a map of options, got {_kind(args)}", f"{path}.checkout", item, kind, value=True
            )
            return None
        step_path = _string(errors, args or {}, "path", f"{path}.checkout.path") if args else None
        return CheckoutStep(path=step_path)
    if kind != "run":
        errors.at(f"step type `{kind}` is not supported by this Rondo version yet", path, item, kind)
        return None
    return _run(errors, item, args, f"{path}.run")


def _run(errors: _Errors, item: Any, args: Any, path: str) -> RunStep | None:
    if isinstance(args, str):
        return RunStep(command=args, name=args)
    if not isinstance(args, Mapping):
        errors.at(f"`run` takes a command string or a map with `command`, got {_kind(args)}", path, item, "run",
                  value=True)  # fmt: skip
        return None
    before = len(errors.items)
    for key in args:
        if key not in RUN_KEYS:
            errors.at(f"unknown key `{key}` in a run step", f"{path}.{key}", args, key)
    command = _string(errors, args, "command", f"{path}.command")
    if command is None and "command" not in args:
        errors.at("a run step needs `command`: the script to run", f"{path}.command", item, "run")
    when = args.get("when", "on_success")
    if when not in WHEN:
        errors.at(f"`when` must be on_success, on_fail or always, got {when!r}", f"{path}.when", args, "when",
                  value=True)  # fmt: skip
    background = args.get("background", False)
    if not isinstance(background, bool):
        errors.at(f"`background` must be true or false, got {background!r}", f"{path}.background", args,
                  "background", value=True)  # fmt: skip
    step = RunStep(
        command=command or "",
        name=_string(errors, args, "name", f"{path}.name") or command or "",
        shell=_string(errors, args, "shell", f"{path}.shell"),
        environment=_environment(errors, args, "environment", f"{path}.environment"),
        working_directory=_string(errors, args, "working_directory", f"{path}.working_directory"),
        background=bool(background),
        when=when if when in WHEN else "on_success",
        no_output_timeout_s=_duration(errors, args, "no_output_timeout", f"{path}.no_output_timeout"),
    )
    return step if len(errors.items) == before else None


def _workflows(errors: _Errors, doc: Mapping[str, Any], jobs: Mapping[str, Job]) -> tuple[Workflow, ...]:
    raw = doc.get("workflows")
    if raw is None:
        if "build" in jobs:
            return (Workflow(DEFAULT_WORKFLOW, (WorkflowJob("build", "build"),)),)
        if isinstance(doc.get("jobs"), Mapping) and "build" not in doc["jobs"]:
            errors.at("without `workflows`, the config must have a job named `build` to run", "jobs", doc, "jobs")
        return ()
    if not isinstance(raw, Mapping):
        errors.at(f"`workflows` must be a map, got {_kind(raw)}", "workflows", doc, "workflows", value=True)
        return ()
    workflows = []
    for name, body in raw.items():
        if name == "version":
            continue
        wf = _workflow(errors, raw, str(name), body, doc.get("jobs") or {})
        if wf is not None:
            workflows.append(wf)
    return tuple(workflows)


def _workflow(errors: _Errors, parent: Any, name: str, body: Any, declared: Any) -> Workflow | None:
    path = f"workflows.{name}"
    if not isinstance(body, Mapping) or not isinstance(body.get("jobs"), list) or not body["jobs"]:
        errors.at("a workflow needs `jobs`: a non-empty list of jobs to run", path, parent, name)
        return None
    for key in body:
        if key not in ("jobs", "triggers", "when", "unless", "max_auto_reruns"):
            errors.at(f"unknown key `{key}` in workflow `{name}`", f"{path}.{key}", body, key)
    entries: list[tuple[WorkflowJob, Any, int]] = []
    seq = body["jobs"]
    for i, item in enumerate(seq):
        entry = _invocation(errors, seq, i, item, f"{path}.jobs[{i}]", declared)
        if entry is not None:
            entries.append((entry, seq, i))
    names: dict[str, int] = {}
    for entry, seq_, i in entries:
        if entry.name in names:
            errors.at(f"job name `{entry.name}` is used twice in this workflow; give one a `name:`",
                      f"{path}.jobs[{i}]", seq_, i)  # fmt: skip
        names[entry.name] = i
    for entry, seq_, i in entries:
        for req in entry.requires:
            if req not in names:
                errors.at(f"job `{entry.name}` requires `{req}`, which is not a job of this workflow",
                          f"{path}.jobs[{i}].requires", seq_, i)  # fmt: skip
    cycle = _cycle({e.name: list(e.requires) for e, _, _ in entries})
    if cycle:
        errors.at(f"`requires` makes a cycle: {' -> '.join(cycle)}", f"{path}.jobs", body, "jobs")
    return Workflow(name, tuple(e for e, _, _ in entries))


def _invocation(errors: _Errors, seq: Any, i: int, item: Any, path: str, declared: Any) -> WorkflowJob | None:
    opts: Any
    if isinstance(item, str):
        job, opts = item, {}
    elif isinstance(item, Mapping) and len(item) == 1:
        job, opts = next(iter(item.items()))
        opts = opts if opts is not None else {}
        if not isinstance(opts, Mapping):
            errors.at(f"options of job `{job}` must be a map, got {_kind(opts)}", path, item, job, value=True)
            return None
    else:
        errors.at(f"a workflow job is a job name or a map with one job name, got {_kind(item)}", path, seq, i)
        return None
    job = str(job)
    for key in opts:
        if key not in INVOCATION_KEYS:
            where = opts if isinstance(opts, Mapping) else seq
            errors.at(
                f"`{key}` on workflow jobs is not supported by this Rondo version yet", f"{path}.{key}", where, key
            )
    job_type = opts.get("type", "build")
    if job_type not in ("build", "approval"):
        errors.at(f"`type` must be approval, got {job_type!r}", f"{path}.type", opts, "type", value=True)
    if job_type == "build" and job not in declared:
        errors.at(f"workflow job `{job}` is not defined in `jobs`", path, seq, i)
        return None
    name = _string(errors, opts, "name", f"{path}.name") or job
    requires = _requires(errors, opts, f"{path}.requires")
    context = opts.get("context")
    contexts: tuple[str, ...] = ()
    if isinstance(context, str):
        contexts = (context,)
    elif isinstance(context, list) and all(isinstance(c, str) for c in context):
        contexts = tuple(context)
    elif context is not None:
        errors.at(f"`context` must be a name or a list of names, got {_kind(context)}", f"{path}.context", opts,
                  "context", value=True)  # fmt: skip
    return WorkflowJob(name, job, requires, contexts, "approval" if job_type == "approval" else "build")


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


def _cycle(graph: Mapping[str, list[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt in graph and state.get(nxt) is None:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in graph:
        if state.get(node) is None:
            found = visit(node)
            if found:
                return found
    return None
