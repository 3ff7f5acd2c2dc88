"""Workflows: `when`/`unless`, job invocations, matrix, job groups, names and `requires` (CONFIG-SPEC §10).

Each invocation becomes one compiled job keyed by its unique name; workflow entries keep
`requires`, `context`, `filters`, `type` and `serial-group` in the shape `circleci config process`
prints.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from rondo.config import logic
from rondo.config.interpolation import InterpolationError, interpolate, to_text
from rondo.config.jobs import JobExpander
from rondo.config.scopes import ElementError, Scope
from rondo.config.steps import _kind
from rondo.config.yaml_source import MAX_NODES, Path, expanded_size

INVOCATION_KEYS = frozenset(
    {
        "requires",
        "name",
        "context",
        "type",
        "filters",
        "matrix",
        "pre-steps",
        "post-steps",
        "serial-group",
        "override-with",
    }
)
WORKFLOW_KEYS = frozenset({"jobs", "triggers", "when", "unless", "max_auto_reruns"})
STATUSES = ("success", "failed", "canceled", "not_run", "unauthorized")
MAX_MATRIX = 1000


@dataclass
class Invocation:
    ref: str  # the job invoked (local, orb/job) or, for approvals, any name
    name: str  # unique within the workflow
    args: dict[str, Any]  # invocation keys and job arguments, interpolated
    path: Path
    approval: bool = False
    requires: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    noop: bool = False  # a job group's start or end marker


class WorkflowExpander:
    def __init__(self, jobs: JobExpander, root: Scope, job_groups: dict[str, Any]) -> None:
        self.jobs = jobs
        self.root = root
        self.v21 = jobs.v21
        self.job_groups = job_groups
        self.compiled: dict[str, dict[str, Any]] = {}  # job key -> compiled job
        self.provenance: dict[str, Path] = {}  # job key -> where its definition is (root config paths only)
        self.invoked: set[str] = set()
        self.errors: list[ElementError] = []
        self.values = 0  # values in the compiled jobs so far, aliases counted each time (bounded by MAX_NODES)

    def _interp(self, value: Any, env: dict[str, Any], path: Path) -> Any:
        if not self.v21:
            return value
        try:
            return interpolate(value, env)
        except InterpolationError as exc:
            raise ElementError(str(exc), self.root.origin, path) from None

    def workflow(self, name: str, raw: Any) -> dict[str, Any] | None:
        """The compiled workflow, or None when its `when`/`unless` says it does not run."""
        path: Path = ("workflows", name)
        if not isinstance(raw, dict):
            raise ElementError(f"workflow '{name}' must be a map with `jobs`, not {_kind(raw)}", self.root.origin, path)
        unknown = [k for k in raw if k not in WORKFLOW_KEYS]
        if unknown:
            raise ElementError(
                f"unknown key '{unknown[0]}' in workflow '{name}'; allowed: {', '.join(sorted(WORKFLOW_KEYS))}",
                self.root.origin,
                (*path, str(unknown[0])),
            )
        if "when" in raw and "unless" in raw:
            raise ElementError(f"workflow '{name}' has both `when` and `unless`; use one", self.root.origin, path)
        for key in ("when", "unless"):
            if key in raw and self.v21:
                value = self._interp(raw[key], self.root.env, (*path, key))
                try:
                    holds = logic.evaluate_condition(value, self.root.env)
                except logic.LogicError as exc:
                    raise ElementError(str(exc), self.root.origin, (*path, key)) from None
                if holds != (key == "when"):
                    return None
        entries = raw.get("jobs")
        if not isinstance(entries, list) or not entries:
            raise ElementError(
                f"workflow '{name}' needs `jobs`: a non-empty list of jobs to run", self.root.origin, path
            )
        invocations: list[Invocation] = []
        aliases: dict[str, list[str]] = {}
        for i, item in enumerate(entries):
            try:
                self._entry(item, (*path, "jobs", i), invocations, aliases, prefix="")
            except ElementError as exc:
                self.errors.append(exc)
        self._unique_names(invocations)
        self._resolve_requires(name, invocations, aliases)
        _check_cycles(invocations, self.root, path)
        out_jobs: list[Any] = []
        for inv in invocations:
            try:
                out_jobs.append(self._compile(inv))
            except ElementError as exc:
                self.errors.append(exc)
        out: dict[str, Any] = {}
        if "triggers" in raw:
            out["triggers"] = self._interp(raw["triggers"], self.root.env, (*path, "triggers"))
        if "max_auto_reruns" in raw:
            out["max_auto_reruns"] = raw["max_auto_reruns"]
        out["jobs"] = out_jobs
        return out

    def _entry(self, item: Any, path: Path, out: list[Invocation], aliases: dict[str, list[str]], prefix: str) -> None:
        opts: Any
        if isinstance(item, str):
            ref, opts = item, {}
        elif isinstance(item, dict) and len(item) == 1:
            ref, opts = next(iter(item.items()))
            if opts is None:
                opts = {}
            if not isinstance(opts, dict):
                raise ElementError(
                    f"the options of workflow job '{ref}' must be a map, not {_kind(opts)}", self.root.origin, path
                )
        else:
            raise ElementError(
                f"a workflow job is a job name or a one-key map of a job name to its options, not {_kind(item)}",
                self.root.origin,
                path,
            )
        ref = str(ref)
        if not self.v21:
            unsupported = [k for k in opts if k not in ("requires", "context", "filters", "type", "name")]
            if unsupported:
                raise ElementError(
                    f"unknown key '{unsupported[0]}' on workflow job '{ref}' (job arguments need version 2.1)",
                    self.root.origin,
                    (*path, ref, str(unsupported[0])),
                )
        if ref in self.job_groups and self.v21:
            self._group(ref, opts, path, out, aliases, prefix)
            return
        matrix = opts.get("matrix")
        if matrix is None:
            args = self._interp({k: v for k, v in opts.items()}, self.root.env, (*path, ref))
            self._add(ref, args, path, out, aliases, alias=None, prefix=prefix)
            return
        for env_extra, combo in self._matrix(ref, matrix, (*path, ref, "matrix")):
            env = dict(self.root.env)
            env.update(env_extra)
            args = self._interp({k: v for k, v in opts.items() if k != "matrix"}, env, (*path, ref))
            if "name" not in args:
                args["name"] = "-".join([ref, *(to_text(combo[k]) for k in sorted(combo, key=str))])
            args.update(combo)
            alias = matrix.get("alias", ref) if isinstance(matrix, dict) else ref
            self._add(ref, args, path, out, aliases, alias=str(alias), prefix=prefix)

    def _matrix(self, ref: str, matrix: Any, path: Path) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        if not isinstance(matrix, dict) or not isinstance(matrix.get("parameters"), dict):
            raise ElementError("`matrix` needs `parameters`: a map of parameter names to lists", self.root.origin, path)
        unknown = [k for k in matrix if k not in ("parameters", "exclude", "alias")]
        if unknown:
            raise ElementError(f"unknown key '{unknown[0]}' in `matrix`", self.root.origin, path)
        params = matrix["parameters"]
        for key, values in params.items():
            if not isinstance(values, list) or not values:
                raise ElementError(
                    f"Parameter {key} is not an enum of values: matrix parameters must be non-empty lists",
                    self.root.origin,
                    (*path, "parameters", str(key)),
                )
        total = 1
        for values in params.values():
            total *= len(values)
        if total > MAX_MATRIX:
            raise ElementError(
                f"this matrix makes {total} jobs; at most {MAX_MATRIX} are allowed", self.root.origin, path
            )
        # Each job gets its values (and a name spelt from them): bound what that adds up to before spelling any.
        per_job = sum(max(expanded_size(v, MAX_NODES) for v in values) for values in params.values())
        if total * per_job > MAX_NODES:
            raise ElementError(
                f"this matrix passes more than {MAX_NODES} values to its {total} jobs (a YAML alias bomb?)",
                self.root.origin,
                path,
            )
        excludes = matrix.get("exclude") or []
        if not isinstance(excludes, list) or not all(isinstance(e, dict) for e in excludes):
            raise ElementError("`exclude` must be a list of maps of parameter values", self.root.origin, path)
        for e in excludes:
            extra = [k for k in e if k not in params]
            if extra:
                raise ElementError(
                    f"`exclude` names '{extra[0]}', which is not a parameter of this matrix",
                    self.root.origin,
                    (*path, "exclude"),
                )
        names = sorted(params, key=str)  # YAML 1.1 keys may be booleans or numbers (`on:`, `1:`)
        combos: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for values in itertools.product(*(params[n] for n in names)):
            combo = dict(zip(names, values, strict=True))
            if any(all(combo[k] == v for k, v in e.items()) for e in excludes):
                continue
            combos.append(({f"matrix.{k}": v for k, v in combo.items()}, combo))
        return combos

    def _group(
        self, group: str, opts: dict[str, Any], path: Path, out: list[Invocation], aliases: dict[str, list[str]],
        prefix: str,
    ) -> None:  # fmt: skip
        if prefix:
            raise ElementError(
                f'Job group "{prefix.rstrip("-")}" cannot reference job group "{group}" -- nesting is not supported',
                self.root.origin,
                path,
            )
        bad = [k for k in opts if k not in ("name", "requires", "serial-group", "filters")]
        if bad:
            raise ElementError(f"Job group invocations do not support `{bad[0]}`", self.root.origin, (*path, group))
        body = self.job_groups[group]
        if not isinstance(body, dict) or not isinstance(body.get("jobs"), list) or set(body) - {"jobs"}:
            raise ElementError(
                f"job group '{group}' must be a map with only `jobs`: a list of jobs", self.root.origin,
                ("job-groups", group),
            )  # fmt: skip
        opts = self._interp(opts, self.root.env, (*path, group))
        label = str(opts.get("name", group))
        # The group becomes: `<label>-start` (no-op; takes the invocation's requires and filters), its
        # jobs named `<label>-<job>`, and `<label>-end` (no-op) after its leaves; `requires: [group]`
        # elsewhere waits for `<label>-end` (CONFIG-SPEC §10.11).
        entry_args: dict[str, Any] = {k: opts[k] for k in ("requires", "filters", "serial-group") if k in opts}
        entry = Invocation(ref=f"{label}-start", name=f"{label}-start", args=entry_args, path=path, noop=True)
        members: list[Invocation] = []
        inner_aliases: dict[str, list[str]] = {}
        for i, item in enumerate(body["jobs"]):
            self._entry(item, ("job-groups", group, "jobs", i), members, inner_aliases, prefix=f"{label}-")
        member_names = {m.args.get("_member") for m in members}
        required_inside: set[str] = set()
        for m in members:
            if "serial-group" in m.args:
                raise ElementError(
                    "Use of `serial-group` on job invocations inside a job-group is not supported",
                    self.root.origin,
                    m.path,
                )
            rewritten: list[Any] = []
            for item in m.args.get("requires") or []:
                try:
                    req, statuses = _parse_require(item)
                except ValueError:
                    rewritten.append(item)  # reported when requires are resolved
                    continue
                if req in inner_aliases:
                    targets = inner_aliases[req]
                elif req in member_names:
                    targets = [f"{label}-{req}"]
                else:
                    raise ElementError(f'"{req}" is not a member of this job group', self.root.origin, m.path)
                required_inside.update(targets)
                rewritten.extend(t if statuses == ("success",) else {t: list(statuses)} for t in targets)
            m.args["requires"] = rewritten or [entry.name]
        leaves = [m.name for m in members if m.name not in required_inside]
        end = Invocation(ref=f"{label}-end", name=f"{label}-end", args={"requires": leaves}, path=path, noop=True)
        out.extend([entry, *members, end])
        aliases.setdefault(label, []).append(end.name)

    def _add(
        self, ref: str, args: dict[str, Any], path: Path, out: list[Invocation], aliases: dict[str, list[str]],
        alias: str | None, prefix: str,
    ) -> None:  # fmt: skip
        name = args.get("name", ref)
        if not isinstance(name, str | int | float) or isinstance(name, bool):
            raise ElementError(f"`name` must be a string, not {_kind(name)}", self.root.origin, (*path, ref, "name"))
        name = str(name)
        if prefix:
            args["_member"] = name
            name = prefix + name
        approval = args.get("type") == "approval"
        if "type" in args and not approval:
            raise ElementError(
                "Only jobs with `type: approval` can be defined inline under the `workflows:`/`job-groups:` "
                f"section. For `type: {args['type']}`, define the job in the `jobs:` section instead.",
                self.root.origin,
                (*path, ref, "type"),
            )
        inv = Invocation(ref=ref, name=name, args=args, path=path, approval=approval)
        out.append(inv)
        if alias is not None:
            aliases.setdefault(alias, []).append(name)

    def _unique_names(self, invocations: list[Invocation]) -> None:
        counts: dict[str, int] = {}
        taken = {inv.name for inv in invocations}
        for inv in invocations:
            n = counts.get(inv.name, 0) + 1
            counts[inv.name] = n
            if n > 1 and "name" not in inv.args:
                candidate = f"{inv.name}-{n}"
                while candidate in taken:
                    n += 1
                    candidate = f"{inv.name}-{n}"
                inv.args["_auto_named"] = True
                inv.name = candidate
                taken.add(candidate)
            elif n > 1:
                self.errors.append(
                    ElementError(
                        f"job name '{inv.name}' is used more than once in this workflow; give each a distinct `name`",
                        self.root.origin,
                        inv.path,
                    )
                )

    def _resolve_requires(self, wf: str, invocations: list[Invocation], aliases: dict[str, list[str]]) -> None:
        names = {inv.name for inv in invocations}
        ambiguous = {inv.ref for inv in invocations if inv.args.get("_auto_named")}
        for inv in invocations:
            raw = inv.args.get("requires")
            if raw is None:
                continue
            if not isinstance(raw, list):
                self.errors.append(
                    ElementError("`requires` must be a list of job names", self.root.origin, (*inv.path, inv.ref))
                )
                continue
            for j, item in enumerate(raw):
                where = (*inv.path, inv.ref, "requires", j)
                try:
                    req, statuses = _parse_require(item)
                except ValueError as exc:
                    self.errors.append(ElementError(str(exc), self.root.origin, where))
                    continue
                if req in ambiguous and req in names:
                    self.errors.append(
                        ElementError(
                            f"'{req}' is invoked more than once in workflow '{wf}'; give the invocations a `name` "
                            "and require that name",
                            self.root.origin,
                            where,
                        )
                    )
                    continue
                targets = aliases.get(req) if req not in names else [req]
                if not targets:
                    self.errors.append(
                        ElementError(
                            f"Job '{inv.name}' requires '{req}', which is the name of 0 other jobs in workflow '{wf}'",
                            self.root.origin,
                            where,
                        )
                    )
                    continue
                inv.requires.extend((t, statuses) for t in targets if t != inv.name)

    def _compile(self, inv: Invocation) -> Any:
        opts: dict[str, Any] = {}
        if inv.requires:
            opts["requires"] = [r if s == ("success",) else {r: list(s)} for r, s in inv.requires]
        context = inv.args.get("context")
        if context is not None:
            if isinstance(context, str):
                context = [context]
            if not isinstance(context, list) or not all(isinstance(c, str) for c in context):
                raise ElementError(
                    "`context` must be a context name or a list of names", self.root.origin, (*inv.path, inv.ref)
                )
            opts["context"] = context
        for key in ("filters", "serial-group"):
            if key in inv.args:
                opts[key] = inv.args[key]
        if inv.approval:
            opts["type"] = "approval"
            self.invoked.add(inv.ref)
            return {inv.name: opts}
        if inv.noop:
            opts["type"] = "no-op"
            return {inv.name: opts}
        ref = inv.ref
        override = inv.args.get("override-with")
        if isinstance(override, str) and self.root.find("jobs", override) is not None:
            ref = override
        found = self.root.find("jobs", ref)
        if found is None:
            raise ElementError(f"Cannot find a definition for job named {ref}", self.root.origin, inv.path)
        scope, job_name, raw = found
        if isinstance(raw, dict) and raw.get("type") == "approval":
            opts["type"] = "approval"
            self.invoked.add(ref)
            return {inv.name: opts}
        # YAML 1.1 keys may be booleans or numbers (`no: 1`); those are arguments too, reported as unexpected.
        internal = {k for k in inv.args if isinstance(k, str) and k.startswith("_")}
        job_args = {k: v for k, v in inv.args.items() if k not in INVOCATION_KEYS and k not in internal}
        pre = self._extra_steps(inv, "pre-steps")
        post = self._extra_steps(inv, "post-steps")
        body = self.jobs.job(scope, job_name, raw, job_args, self.root, (*inv.path, inv.ref), pre, post)
        # Count before storing: storing compares bodies, which walks every alias in them.
        self.values += expanded_size(body, MAX_NODES - self.values)
        if self.values > MAX_NODES:
            raise ElementError(
                f"the expanded config has more than {MAX_NODES} values (a YAML alias bomb?)",
                self.root.origin,
                (*inv.path, inv.ref),
            )
        self.invoked.add(ref)
        key = self._store(ref, inv.name, body, scope, job_name)
        if key != inv.name:
            opts["name"] = inv.name
        return {key: opts} if opts else key

    def _extra_steps(self, inv: Invocation, key: str) -> list[Any] | None:
        value = inv.args.get(key)
        if value is None:
            return None
        if not isinstance(value, list):
            raise ElementError(f"`{key}` must be a list of steps", self.root.origin, (*inv.path, inv.ref, key))
        return self.jobs.steps.expand(value, self.root, (*inv.path, inv.ref, key))

    def _store(self, ref: str, name: str, body: dict[str, Any], scope: Scope, job_name: str) -> str:
        """The key of `body` in the compiled jobs: the job's own name unless another body took it."""
        if self.compiled.get(ref, body) == body:
            key = ref
            self.compiled[key] = body
            if scope is self.root:
                self.provenance.setdefault(key, ("jobs", job_name))
            return key
        key, n = name, 1
        while key in self.compiled and self.compiled[key] != body:
            n += 1
            key = f"{name}-{n}"
        self.compiled[key] = body
        if scope is self.root:
            self.provenance.setdefault(key, ("jobs", job_name))
        return key


def _requires_names(raw: Any) -> list[str]:
    if not isinstance(raw, list):
        return []
    out = []
    for item in raw:
        try:
            out.append(_parse_require(item)[0])
        except ValueError:
            continue
    return out


def _parse_require(item: Any) -> tuple[str, tuple[str, ...]]:
    if isinstance(item, str | int | float) and not isinstance(item, bool):
        return str(item), ("success",)
    if isinstance(item, dict) and len(item) == 1:
        name, statuses = next(iter(item.items()))
        if isinstance(statuses, str):
            statuses = [statuses]
        if isinstance(statuses, list) and statuses:
            expanded: list[str] = []
            for s in statuses:
                if s == "terminal":
                    expanded.extend(STATUSES)
                elif s in STATUSES:
                    expanded.append(s)
                else:
                    raise ValueError(
                        f"'{s}' is not a job status `requires` can wait for; use {', '.join(STATUSES)} or terminal"
                    )
            return str(name), tuple(dict.fromkeys(expanded))
    raise ValueError(
        f"a `requires` entry is a job name, or a map of a job name to a status or list of statuses, not {_kind(item)}"
    )


def _check_cycles(invocations: list[Invocation], root: Scope, path: Path) -> None:
    graph = {inv.name: [r for r, _ in inv.requires] for inv in invocations}
    state: dict[str, int] = {}
    for start in graph:
        if state.get(start):
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        state[start] = 1
        while stack:
            node, i = stack[-1]
            edges = graph.get(node, [])
            if i < len(edges):
                stack[-1] = (node, i + 1)
                nxt = edges[i]
                if state.get(nxt) == 1:
                    raise ElementError(f"The job `{nxt}` is part of a cycle", root.origin, (*path, "jobs"))
                if nxt in graph and not state.get(nxt):
                    state[nxt] = 1
                    stack.append((nxt, 0))
            else:
                state[node] = 2
                stack.pop()
