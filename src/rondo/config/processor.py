"""Processing: a 2.0/2.1 config in, the expanded version 2 config out (what `circleci config process` prints).

Stages follow CONFIG-SPEC §1: parse YAML 1.1, check the version, bind pipeline parameters,
substitute pipeline values in `orbs:`, import orbs (recursively), expand workflows -> jobs ->
steps, and emit version 2. Every error found is reported, each with its file, line and column.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from rondo.config.errors import ConfigError, ConfigErrors
from rondo.config.interpolation import ExpandedSteps, InterpolationError, interpolate
from rondo.config.jobs import JobExpander
from rondo.config.orbs import NoOrbs, OrbNotFound, OrbRef, OrbSource
from rondo.config.parameters import PIPELINE_TYPES, ParameterError, parse_declarations
from rondo.config.scopes import KINDS, ElementError, Origin, Scope
from rondo.config.steps import StepExpander, _kind, parse_params
from rondo.config.workflows import WorkflowExpander
from rondo.config.yaml_source import (
    MAX_DEPTH,
    MAX_NODES,
    Path,
    SourceFloat,
    YamlError,
    compose,
    expanded_size,
    format_path,
    load,
    locate,
    too_deep,
)

TOP_KEYS_21 = frozenset(
    {"version", "setup", "orbs", "commands", "executors", "parameters", "jobs", "job-groups", "workflows"}
)
ORB_KEYS = frozenset({"version", "description", "display", "orbs", "commands", "executors", "jobs", "examples"})
MAX_ORB_DEPTH = 10


def local_pipeline_values() -> dict[str, Any]:
    """Pipeline values for compiling outside a pipeline (`rondo config process`), like the CircleCI CLI's."""
    return {
        "pipeline.id": "00000000-0000-0000-0000-000000000001",
        "pipeline.number": 1,
        "pipeline.name": "",
        "pipeline.definition.id": "",
        "pipeline.project.git_url": "",
        "pipeline.project.type": "github",
        "pipeline.project.slug": "",
        "pipeline.integration_source": None,
        "pipeline.git.tag": None,
        "pipeline.git.branch": "main",
        "pipeline.git.branch.is_default": True,
        "pipeline.git.revision": "0000000000000000000000000000000000000000",
        "pipeline.git.base_revision": None,
        "pipeline.git.repo_url": "",
        "pipeline.git.repo_owner": "",
        "pipeline.git.repo_name": "",
        "pipeline.git.repo_id": "",
        "pipeline.git.commit.url": "",
        "pipeline.git.commit.subject": "",
        "pipeline.git.commit.body": "",
        "pipeline.git.commit.author_login": "",
        "pipeline.git.commit.author_name": "",
        "pipeline.git.commit.author_email": "",
        "pipeline.git.commit.author_avatar_url": "",
        "pipeline.config.file_path": ".circleci/config.yml",
        "pipeline.trigger.type": "api",
        "pipeline.trigger.id": "",
        "pipeline.trigger.received_at": "",
        "pipeline.trigger.name": "",
        "pipeline.trigger_source": "api",
        "pipeline.schedule.name": None,
        "pipeline.schedule.id": None,
        "pipeline.event.name": "api",
        "pipeline.event.action": None,
        "pipeline.trigger_parameters.circleci.trigger_type": "api",
        "pipeline.trigger_parameters.circleci.event_type": "",
        "pipeline.trigger_parameters.circleci.event_time": "",
        "pipeline.trigger_parameters.git.branch": "main",
        "pipeline.trigger_parameters.git.tag": None,
        "pipeline.trigger_parameters.git.checkout_sha": "",
        "pipeline.trigger_parameters.git.repo_url": "",
    }


@dataclass
class ProcessedConfig:
    """The expanded config: `data` is version 2 shaped (jobs and workflows only)."""

    data: dict[str, Any]
    version: str  # as written: "2", "2.0" or "2.1"
    setup: bool = False
    orbs: list[tuple[str, str]] = field(default_factory=list)  # (as written, resolved to)
    provenance: dict[str, Path] = field(default_factory=dict)  # job key -> its definition in the config
    parameters: dict[str, Any] = field(default_factory=dict)  # pipeline parameters as bound
    errors: list[ConfigError] = field(default_factory=list)  # with `allow_errors`, what went wrong

    def to_yaml(self, original: str | None = None) -> str:
        """The processed config as `circleci config process` prints it."""
        head = "".join(f"# Orb '{w}' resolved to '{r}'\n" for w, r in self.orbs)
        body = dump_yaml(self.data)
        tail = ""
        if original is not None:
            tail = "\n# Original config.yml file:\n" + "".join(f"# {line}\n" for line in original.splitlines())
        return head + body + tail


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump_yaml(value: Any) -> str:
    """YAML text of loaded or expanded data, keys in their order, aliases written out."""
    return str(yaml.dump(_plain(value), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=10_000))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, SourceFloat):
        return float(value) if value.text.replace(".", "", 1).isdigit() else value.text
    return value


class _Processor:
    def __init__(
        self,
        text: str,
        filename: str,
        pipeline_values: Mapping[str, Any],
        parameters: Mapping[str, Any],
        orb_source: OrbSource,
        orb_cache: dict[str, Any] | None,
        as_orb: bool = False,
    ) -> None:
        self.as_orb = as_orb  # the text is a packed orb, checked before it is published
        self.origin = Origin(filename, text)
        self.pipeline_values = dict(pipeline_values)
        self.supplied = dict(parameters)
        self.orb_source = orb_source
        self.orb_cache = orb_cache if orb_cache is not None else {}
        self.errors: list[ElementError] = []
        self.resolved_orbs: list[tuple[str, str]] = []
        self.orb_scopes: dict[str, Scope] = {}  # resolved orb reference -> its scope, filled once per compile

    def fail(self, message: str, *path: str | int) -> None:
        self.errors.append(ElementError(message, self.origin, tuple(path)))

    def run(self) -> ProcessedConfig:
        try:
            doc = load(self.origin.text)
        except YamlError as exc:
            error = ConfigError(f"YAML error: {exc.message}", "", self.origin.file, exc.line, exc.column)
            raise ConfigErrors([error]) from None
        if not isinstance(doc, dict):
            raise self._raise_with(f"the config must be a map with `version`, `jobs` and `workflows`, not {_kind(doc)}")
        problem = _shape_problem(doc)
        if problem is not None:
            raise self._raise_with(f"the config {problem[0]}", *problem[1])
        version = self._version(doc)
        v21 = version == "2.1"
        if self.as_orb:
            self._orb_shape(doc, version)
        setup = bool(doc.get("setup")) if v21 else False
        if not v21:
            for key in ("orbs", "commands", "executors", "parameters", "setup", "job-groups"):
                if key in doc:
                    self.fail(f"`{key}` needs `version: 2.1`", key)
        bound = self._pipeline_parameters(doc) if v21 else {}
        env = dict(self.pipeline_values)
        orb_env = dict(env)
        env.update((f"pipeline.parameters.{k}", v) for k, v in bound.items())
        root = Scope(self.origin, (), "", False, env)
        self._fill_scope(root, doc, orb_env, depth=0, chain=())
        steps = StepExpander(v21, parse_params)
        jobs = JobExpander(steps)
        job_groups = doc.get("job-groups") or {} if v21 else {}
        if not isinstance(job_groups, dict):
            self.fail("`job-groups` must be a map of group names to `{jobs: [...]}`", "job-groups")
            job_groups = {}
        for group in job_groups:
            if group in root.elements["jobs"]:
                self.fail(f"A name appears in both `jobs` and `job-groups`: '{group}'", "job-groups", str(group))
        wf = WorkflowExpander(jobs, root, job_groups)
        workflows_out: dict[str, Any] = {}
        raw_workflows = doc.get("workflows")
        if raw_workflows is None and self.as_orb:
            raw_workflows = {}  # an orb has no workflows; its jobs are checked below like unused jobs
        if raw_workflows is None:
            if "build" in root.elements["jobs"]:
                raw_workflows = {"workflow": {"jobs": ["build"]}}
            elif "jobs" in doc:
                self.fail(
                    "Cannot find a job named `build` to run in the `jobs:` section of your configuration file. "
                    "Without `workflows`, a config runs its `build` job.",
                    "jobs" if "jobs" in doc else "version",
                )
                raw_workflows = {}
        if not isinstance(raw_workflows, dict):
            self.fail(
                f"`workflows` must be a map of workflow names to workflows, not {_kind(raw_workflows)}", "workflows"
            )
            raw_workflows = {}
        for name, body in raw_workflows.items():
            if name == "version":
                continue
            try:
                compiled = wf.workflow(str(name), body)
            except ElementError as exc:
                self.errors.append(exc)
                continue
            if compiled is not None:
                workflows_out[str(name)] = compiled
        self.errors.extend(wf.errors)
        self.errors.extend(steps.problems)
        # Jobs no workflow invokes are still checked, and kept when they need no arguments.
        for name, raw in root.elements["jobs"].items():
            if name in wf.invoked or (isinstance(raw, dict) and _has_required(raw)):
                continue
            try:
                body = jobs.job(root, name, raw, {}, root, ("jobs", name))
            except ElementError as exc:
                self.errors.append(exc)
                continue
            if name not in wf.compiled:
                wf.compiled[name] = body
                wf.provenance[name] = ("jobs", name)
        if not self.errors and _too_big(wf.compiled, MAX_NODES):
            self.fail(f"the expanded config has more than {MAX_NODES} values (a YAML alias bomb?)", "jobs")
        data: dict[str, Any] = {"version": 2, "jobs": wf.compiled, "workflows": {"version": 2, **workflows_out}}
        return ProcessedConfig(
            data,
            version,
            setup,
            self.resolved_orbs,
            dict(wf.provenance),
            dict(bound),
            self._errors().errors if self.errors else [],
        )

    def _raise_with(self, message: str, *path: str | int) -> ConfigErrors:
        self.fail(message, *path)
        return self._errors()

    def _errors(self) -> ConfigErrors:
        nodes: dict[int, Any] = {}
        out: list[ConfigError] = []
        seen: set[tuple[str, str, str]] = set()
        for err in self.errors:
            key = (err.origin.file, format_path(err.path), err.message)
            if key in seen:
                continue
            seen.add(key)
            node_key = id(err.origin)
            if node_key not in nodes:
                nodes[node_key] = compose(err.origin.text)
            line, column = locate(nodes[node_key], err.path)
            out.append(ConfigError(err.message, format_path(err.path), err.origin.file, line, column))
        return ConfigErrors(out)

    def _version(self, doc: dict[str, Any]) -> str:
        if "version" not in doc:
            self.fail("`version` is required: 2 or 2.1", "version")
            return "2.1"
        raw = doc["version"]
        text = raw.text if isinstance(raw, SourceFloat) else str(raw) if isinstance(raw, int | float | str) else ""
        if isinstance(raw, bool) or text not in ("2", "2.0", "2.1"):
            self.fail(f"`version` must be 2, 2.0 or 2.1, not {raw!s}", "version")
            return "2.1"
        if isinstance(raw, str) and text != raw.strip():
            return "2.1"
        return text

    def _orb_shape(self, doc: dict[str, Any], version: str) -> None:
        for key in doc:
            if key not in ORB_KEYS:
                self.fail(f"`{key}` is not allowed in an orb; an orb has only {', '.join(sorted(ORB_KEYS))}", str(key))
        if "version" in doc and version != "2.1":
            self.fail("an orb must declare `version: 2.1`", "version")

    def _pipeline_parameters(self, doc: dict[str, Any]) -> dict[str, Any]:
        try:
            params = parse_declarations(doc.get("parameters"), allowed=PIPELINE_TYPES, pipeline=True)
        except ParameterError as exc:
            self.fail(exc.message, "parameters", *([exc.key] if exc.key else []))
            return {}
        declared = {p.name: p for p in params}
        unexpected = [k for k in self.supplied if k not in declared]
        if unexpected:
            self.fail(f"Unexpected argument(s): {', '.join(unexpected)}", "parameters")
        values: dict[str, Any] = {}
        from rondo.config.parameters import check

        for p in params:
            if p.name in self.supplied:
                try:
                    values[p.name] = check(p, self.supplied[p.name], "pipeline")
                except ParameterError as exc:
                    self.fail(exc.message, "parameters", p.name)
                    values[p.name] = p.default
            else:
                values[p.name] = p.default
        return values

    # orbs and scopes

    def _fill_scope(
        self, scope: Scope, doc: dict[str, Any], orb_env: dict[str, Any], depth: int, chain: tuple[str, ...]
    ) -> None:
        for kind in KINDS:
            raw = doc.get(kind)
            if raw is None:
                continue
            if not isinstance(raw, dict):
                self.errors.append(scope.fail(f"`{kind}` must be a map of names to definitions", kind))
                continue
            for name, body in raw.items():
                scope.elements[kind][str(name)] = body
        orbs = doc.get("orbs")
        if orbs is None:
            return
        if not isinstance(orbs, dict):
            self.errors.append(scope.fail("`orbs` must be a map of aliases to orb references or inline orbs", "orbs"))
            return
        for alias, value in orbs.items():
            alias = str(alias)
            try:
                scope.orbs[alias] = self._orb(scope, alias, value, orb_env, depth, chain)
            except ElementError as exc:
                self.errors.append(exc)

    def _orb(
        self, parent: Scope, alias: str, value: Any, orb_env: dict[str, Any], depth: int, chain: tuple[str, ...]
    ) -> Scope:
        where = ("orbs", alias)
        if depth >= MAX_ORB_DEPTH:
            raise parent.fail(f"orbs import each other more than {MAX_ORB_DEPTH} levels deep", *where)
        if isinstance(value, dict):
            label = f"{parent.label}/{alias}" if parent.label else alias
            scope = Scope(parent.origin, parent.path(*where), label, True, orb_env)
            self._fill_scope(scope, value, orb_env, depth + 1, chain)
            return scope
        if value is None:
            return Scope(parent.origin, parent.path(*where), alias, True, orb_env)
        if not isinstance(value, str):
            raise parent.fail(f"orb '{alias}' must be a reference like ns/name@1.2.3 or an inline orb map", *where)
        text = value
        if "<<" in text:
            try:
                text = str(interpolate(text, parent.env))
            except InterpolationError as exc:
                raise parent.fail(str(exc), *where) from None
        if text.startswith("https://"):
            raise parent.fail(
                f"URL orbs ({text}) are not fetched by this server; publish the orb to its registry and "
                "reference it as namespace/name@version",
                *where,
            )
        try:
            ref = OrbRef.parse(text)
        except ValueError as exc:
            raise parent.fail(str(exc), *where) from None
        if str(ref) in chain:
            raise parent.fail(f"orb {ref} imports itself (through {' -> '.join(chain)})", *where)
        try:
            resolved = self.orb_source.resolve(ref)
        except OrbNotFound as exc:
            raise parent.fail(str(exc), *where) from None
        if depth == 0:
            self.resolved_orbs.append((str(ref), str(resolved.ref)))
        known = self.orb_scopes.get(str(resolved.ref))
        if known is not None:
            # An orb imported again (under another alias, or by another orb) is the same scope: filling it
            # once per import would grow exponentially with orbs that import an orb under many aliases.
            return known
        origin = Origin(str(resolved.ref), resolved.source)
        doc = self._load_orb(resolved.source, origin)
        scope = Scope(origin, (), str(resolved.ref), True, orb_env)
        self.orb_scopes[str(resolved.ref)] = scope
        self._fill_scope(scope, doc, orb_env, depth + 1, (*chain, str(ref)))
        return scope

    def _load_orb(self, source: str, origin: Origin) -> dict[str, Any]:
        cached = self.orb_cache.get(source)
        if cached is None:
            try:
                cached = load(source)
            except YamlError as exc:
                where = f" at line {exc.line}, column {exc.column}" if exc.line is not None else ""
                raise ElementError(f"orb {origin.file} is not valid YAML{where}: {exc.message}", origin, ()) from None
            if not isinstance(cached, dict):
                raise ElementError(f"orb {origin.file} must be a map", origin, ())
            problem = _shape_problem(cached)
            if problem is not None:
                raise ElementError(f"orb {origin.file} {problem[0]}", origin, problem[1])
            self.orb_cache[source] = cached
        return dict(cached)


def _too_big(value: Any, limit: int) -> bool:
    """Whether `value`, with aliases counted each time they appear, has more than `limit` nodes."""
    return expanded_size(value, limit) > limit


def _shape_problem(doc: dict[str, Any]) -> tuple[str, Path] | None:
    """What makes a loaded config or orb too big or too deep to process, and where; None when nothing does.

    Aliases are shared while loading, but whatever walks the document (interpolating, comparing, dumping,
    naming matrix jobs) sees them expanded, so both are measured that way before anything walks it.
    """
    left = MAX_NODES
    for key, value in doc.items():
        used = expanded_size(value, left)
        if used > left:
            return f"has more than {MAX_NODES} values once its YAML aliases are expanded (an alias bomb?)", (str(key),)
        left -= used
    deep = too_deep(doc, MAX_DEPTH)
    if deep is not None:
        return f"nests maps and lists more than {MAX_DEPTH} levels deep", deep
    return None


def _has_required(raw: dict[str, Any]) -> bool:
    params = raw.get("parameters")
    if not isinstance(params, dict):
        return False
    return any(isinstance(d, dict) and "default" not in d for d in params.values())


def process_config(
    text: str,
    *,
    filename: str = ".circleci/config.yml",
    pipeline_values: Mapping[str, Any] | None = None,
    parameters: Mapping[str, Any] | None = None,
    orb_source: OrbSource | None = None,
    orb_cache: dict[str, Any] | None = None,
    allow_errors: bool = False,
    as_orb: bool = False,
) -> ProcessedConfig:
    """Expand a config; raises ConfigErrors listing every problem found.

    With `allow_errors`, a config that parses comes back with what could be expanded and its
    `errors`, so later checks can add theirs and everything is reported in one pass. With `as_orb`,
    `text` is a packed orb: only orb keys are allowed, there are no workflows, and its jobs are
    checked the way unused jobs of a config are.
    """
    processor = _Processor(
        text,
        filename,
        pipeline_values if pipeline_values is not None else local_pipeline_values(),
        parameters or {},
        orb_source if orb_source is not None else NoOrbs(),
        orb_cache,
        as_orb,
    )
    try:
        processed = processor.run()
    except RecursionError:
        raise ConfigErrors(
            [ConfigError("the config nests too deeply (a recursive anchor or alias?)", "", filename)]
        ) from None
    if processed.errors and not allow_errors:
        raise ConfigErrors(processed.errors)
    return processed


__all__ = ["ExpandedSteps", "ProcessedConfig", "dump_yaml", "local_pipeline_values", "process_config"]
