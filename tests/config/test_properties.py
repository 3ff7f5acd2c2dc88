"""Properties of the config compiler for any input: it returns a result or raises ConfigErrors that say what
and where, and expansion stays bounded (command recursion, matrices, step splices, YAML alias bombs, nesting).

Examples are derandomized, so every run tries the same inputs; each bug a property found is kept as an
`@example` on it (or a plain test after it) so it stays fixed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rondo.config import ConfigErrors, DirectoryOrbSource, compile_config, local_pipeline_values
from rondo.config.expressions import ExpressionError, evaluate, parse
from rondo.config.yaml_source import SourceFloat, load
from tests.conftest import SHARED

CORPUS = SHARED / "corpus"
ORBS = DirectoryOrbSource(CORPUS / "orbs")
CACHE: dict[str, Any] = {}
FILE = ".circleci/config.yml"
SETTINGS: dict[str, Any] = {
    "deadline": None,
    "derandomize": True,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
}
# The bounds the compiler promises (src/rondo/config: yaml_source, steps, workflows, logic).
MAX_NODES, MAX_DEPTH, MAX_STEPS, MAX_MATRIX, MAX_PARTS = 500_000, 100, 20_000, 1000, 1000


def _values() -> dict[str, Any]:
    values = local_pipeline_values()
    values["pipeline.git.revision"] = "0123456789abcdef0123456789abcdef01234567"
    return values


VALUES = _values()


def outcome(text: str, **kw: Any) -> list[str]:
    """Compile `text`: [] when it compiles, else its error messages, each checked to say what and where."""
    try:
        compiled = compile_config(text, orb_source=ORBS, orb_cache=CACHE, pipeline_values=VALUES, **kw)
    except ConfigErrors as exc:
        lines = len(text.splitlines()) + 1  # YAML's line breaks are among those splitlines() knows
        for error in exc.errors:
            assert error.message.strip(), f"an error without a message: {error!r}"
            assert error.line is not None and error.column is not None, f"an error without a position: {error}"
            assert error.line >= 1 and error.column >= 1, error
            if error.file == FILE:
                assert error.line <= lines, f"{error} points past the end of the config"
        return [e.message for e in exc.errors]
    assert compiled.processed_yaml.startswith(("version: 2", "# Orb"))
    return []


# --- a. mutations of real configs -------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Writes floats as they were spelt (`xcode: 12.50`), like the config they came from."""


_Dumper.add_representer(SourceFloat, lambda d, v: d.represent_scalar("tag:yaml.org,2002:float", v.text))

DOCS = {path.stem: load(path.read_text()) for path in sorted((CORPUS / "configs").glob("*.yml"))}

KEYS = (
    "version", "setup", "orbs", "commands", "executors", "parameters", "jobs", "workflows", "job-groups",
    "steps", "executor", "docker", "machine", "macos", "image", "run", "command", "name", "when", "unless",
    "condition", "matrix", "alias", "exclude", "requires", "filters", "branches", "only", "ignore", "type",
    "default", "enum", "environment", "context", "pre-steps", "post-steps", "parallelism", "checkout",
    "save_cache", "restore_cache", "key", "keys", "paths", "persist_to_workspace", "attach_workspace", "at",
    "root", "x", "y", "build", "<<", "override-with", "serial-group", "resource_class", "working_directory",
)  # fmt: skip
REFERENCES = (
    "<< parameters.x >>", "<< pipeline.parameters.nope >>", "<< matrix.x >>", "<< pipeline.git.branch >>",
    "<<# parameters.y >>yes<</ parameters.y >>", "<<^ parameters.y >>no<</ parameters.y >>",
    "<<# parameters.y >>", "<</ parameters.y >>", "<< parameters.x == 3 >>", "<< include(src/x.sh) >>",
    '<< pipeline.git.branch starts-with "ma" >>', "<<>>", "<< >>", "\\<< literal", "<< parameters.steps >>",
    '<< pipeline.number > "a" >>', "<< (( >>", "<< matrix.y >>-<< matrix.x >>",
)  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 100),
    st.floats(width=32),
    st.sampled_from(KEYS),
    st.sampled_from(REFERENCES),
    st.text(max_size=12),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=6)), inner, max_size=3),
    ),
    max_leaves=6,
)


def _copy(value: Any, memo: dict[int, Any]) -> Any:
    """A copy of the maps and lists in `value` that keeps YAML aliases shared (scalars are immutable)."""
    if not isinstance(value, dict | list):
        return value
    if id(value) not in memo:
        if isinstance(value, dict):
            memo[id(value)] = out = {}
            out.update((k, _copy(v, memo)) for k, v in value.items())
        else:
            memo[id(value)] = out = []
            out.extend(_copy(v, memo) for v in value)
    return memo[id(value)]


def _slots(tree: Any) -> list[tuple[Any, Any]]:
    """Every (container, key or index) in `tree`, each shared container (a YAML alias) once."""
    out: list[tuple[Any, Any]] = []
    seen: set[int] = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, dict):
            for key, value in node.items():
                out.append((node, key))
                stack.append(value)
        elif isinstance(node, list):
            for i, value in enumerate(node):
                out.append((node, i))
                stack.append(value)
    return out


def _rename(parent: dict[Any, Any], old: Any, new: Any) -> None:
    items = [(new if k == old else k, v) for k, v in parent.items()]
    parent.clear()
    parent.update(items)


def _with_reference(value: Any, reference: str, where: int) -> str:
    text = value if isinstance(value, str) else "" if value is None else str(value)
    where = min(where, len(text))
    return text[:where] + reference + text[where:]


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """A corpus config after one to four structural mutations, as YAML text."""
    doc = _copy(DOCS[draw(st.sampled_from(sorted(DOCS)))], {})
    for _ in range(draw(st.integers(1, 4))):
        slots = _slots(doc)
        if not slots:
            break
        parent, key = slots[draw(st.integers(0, len(slots) - 1))]
        value = parent[key]
        op = draw(st.sampled_from(("delete", "replace", "duplicate", "rename", "reference", "swap", "null")))
        if op == "delete":
            del parent[key]
        elif op == "replace":
            parent[key] = draw(values)
        elif op == "duplicate" and isinstance(parent, list):
            parent.insert(key, _copy(value, {}))
        elif op == "rename" and isinstance(parent, dict):
            _rename(parent, key, draw(st.one_of(st.sampled_from(KEYS), scalars.filter(lambda v: v is not None))))
        elif op == "reference":
            parent[key] = _with_reference(value, draw(st.sampled_from(REFERENCES)), draw(st.integers(0, 30)))
        elif op == "swap":
            parent[key] = draw(st.sampled_from(([value], {"x": value}, str(value), 1, True)))
        else:
            parent[key] = None
    return str(yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True))


# A YAML 1.1 boolean key (`no:`) among a workflow job's arguments crashed the compiler.
BOOLEAN_ARGUMENT = """\
version: 2.1
jobs:
  build: {docker: [{image: cimg/base:stable}], steps: [checkout]}
workflows:
  main:
    jobs:
      - build: {no: 1, 3: x}
"""

# A matrix parameter named by a YAML 1.1 boolean could not be sorted among the others.
BOOLEAN_MATRIX = BOOLEAN_ARGUMENT.replace("{no: 1, 3: x}", "{matrix: {parameters: {x: [a], on: [1, 2]}}}")
# `triggers` that is not a list crashed the compiler; items that were not maps were dropped silently.
BAD_TRIGGERS = BOOLEAN_ARGUMENT.replace("  main:\n", "  main:\n    triggers: 1\n").replace(": {no: 1, 3: x}", "")


@settings(max_examples=120, **SETTINGS)
@given(mutated())
@example(BOOLEAN_ARGUMENT)
@example(BOOLEAN_MATRIX)
@example(BAD_TRIGGERS)
@example(BAD_TRIGGERS.replace("triggers: 1", "triggers: [{schedule: {cron: 0 0 * * *}}, 1]"))
def test_mutated_corpus_configs_compile_or_say_what_and_where(text: str) -> None:
    outcome(text)


def test_arguments_named_by_yaml_booleans_and_numbers_are_unexpected() -> None:
    (message,) = outcome(BOOLEAN_ARGUMENT)
    assert "Unexpected argument(s): False, 3" in message
    assert all("Unexpected argument(s): True" in m for m in outcome(BOOLEAN_MATRIX))


def test_triggers_must_be_a_list_of_maps() -> None:
    expected = "`triggers` must be a list of `{schedule: {cron: …, filters: …}}` maps, got a number"
    assert outcome(BAD_TRIGGERS) == [expected]


# --- b. arbitrary text ------------------------------------------------------------------------------------------

FRAGMENTS = (
    "version: 2.1", "version: 2", "version:", "jobs:", "workflows:", "commands:", "executors:", "orbs:",
    "parameters:", "build:", "steps:", "- run: echo hi", "- checkout", "docker: [{image: cimg/base:stable}]",
    "- build", "&a", "*a", "<<: *a", "&b [*a, *a]", "{", "}", "[", "]", "- ", ": ", "? ", "!!str", "!!map",
    "!foo", "'", '"', "|", ">", "#", "<< parameters.x >>", "<<# parameters.y >>", "matrix:", "x: [1, 2]",
    "requires: [build]", 'when: << pipeline.git.branch == "main" >>', "node: circleci/node@5", "---", "...",
    "\t", "%YAML 1.1", "%TAG ! tag:x,", "\x00", "\ufeff", "\x85", "\u2028", "on", "yes", "~", "0x1F", "1e3",
    ".nan", "2001-12-14",
)  # fmt: skip


@st.composite
def yamlish(draw: st.DrawFn) -> str:
    """Lines of YAML-looking fragments at random indentation."""
    lines = []
    for _ in range(draw(st.integers(1, 12))):
        indent = "  " * draw(st.integers(0, 4))
        lines.append(indent + " ".join(draw(st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=3))))
    return "\n".join(lines) + "\n"


@settings(max_examples=150, **SETTINGS)
@given(st.one_of(st.text(max_size=200), yamlish()))
@example("")  # an empty document: its errors had no position
@example("# only a comment\n")
@example("version: 2.1\njobs: \x01\n")  # a character YAML refuses: libyaml gives a byte offset, no mark
@example("version: 2.1\njobs: \ud800\n")  # a lone surrogate cannot even be encoded for the parser
@example("x: " + "[" * 600)  # flow collections nested past the parser's limit
def test_any_text_compiles_or_raises_config_errors(text: str) -> None:
    outcome(text)


# --- c. bounded expansion ---------------------------------------------------------------------------------------

WRAP = {"parameters": {"s": {"type": "steps"}}, "steps": [{"steps": "<< parameters.s >>"}] * 2}
ITEM_FORMS = ("run", "skip", "call", "call-with-args", "when", "splice", "wrap")


def _item(form: str, target: str, label: str) -> Any:
    return {
        "run": {"run": f"echo {label}"},
        "skip": {"when": {"condition": False, "steps": [{"run": "never"}]}},
        "call": target,
        "call-with-args": {target: {}},
        "when": {"when": {"condition": True, "steps": [target]}},
        "splice": {"steps": [target]},
        "wrap": {"wrap": {"s": [target]}},
    }[form]


@st.composite
def command_graphs(draw: st.DrawFn) -> dict[str, list[tuple[str, str]]]:
    """Up to five commands whose steps call each other (cycles included) in every way a step can."""
    names = [f"c{i}" for i in range(draw(st.integers(1, 5)))]
    item = st.tuples(st.sampled_from(ITEM_FORMS), st.sampled_from(names))
    return {name: draw(st.lists(item, min_size=1, max_size=4)) for name in names}


def _expected(graph: dict[str, list[tuple[str, str]]]) -> tuple[bool, int, int]:
    """Whether a cycle is reachable from c0; else bounds on what expanding c0 counts: (upper, lower = its runs)."""
    upper: dict[str, int] = {}
    runs: dict[str, int] = {}
    on_path: set[str] = set()

    def visit(name: str) -> bool:
        if name in on_path:
            return True
        if name in upper:
            return False
        on_path.add(name)
        high = low = 0
        for form, target in graph[name]:
            if form in ("run", "skip"):
                high, low = high + 1, low + (form == "run")
                continue
            if visit(target):
                return True
            if form == "wrap":  # the argument is expanded once, then spliced twice
                high, low = high + 4 + 3 * upper[target], low + 2 * runs[target]
            else:
                high, low = high + 2 + upper[target], low + runs[target]
        on_path.discard(name)
        upper[name], runs[name] = high, low
        return False

    if visit("c0"):
        return True, 0, 0
    return False, upper["c0"], runs["c0"]


def _runs(graph: dict[str, list[tuple[str, str]]], name: str) -> list[str]:
    out: list[str] = []
    for i, (form, target) in enumerate(graph[name]):
        if form == "run":
            out.append(f"echo {name}.{i}")
        elif form != "skip":
            out.extend(_runs(graph, target) * (2 if form == "wrap" else 1))
    return out


def _commands_config(graph: dict[str, list[tuple[str, str]]]) -> str:
    commands: dict[str, Any] = {"wrap": WRAP}
    for name, items in graph.items():
        commands[name] = {"steps": [_item(form, target, f"{name}.{i}") for i, (form, target) in enumerate(items)]}
    doc = {
        "version": 2.1,
        "commands": commands,
        "jobs": {"build": {"docker": [{"image": "cimg/base:stable"}], "steps": ["c0"]}},
    }
    return str(yaml.safe_dump(doc, sort_keys=False))


SELF_CALL = {"c0": [("call", "c0")]}
DOUBLING = {f"c{i}": [("wrap", f"c{i + 1}")] for i in range(4)} | {"c4": [("wrap", "c0")]}
# 4 * 8**5 steps, but only 4**5 calls of c5: counting built-in steps alone let all of them through.
FAN_OUT = {f"c{i}": [("wrap", f"c{i + 1}")] * 4 for i in range(5)} | {"c5": [("run", "")] * 4}


@settings(max_examples=80, **SETTINGS)
@given(command_graphs())
@example(SELF_CALL)
@example(DOUBLING)
@example(FAN_OUT)
def test_commands_calling_each_other_expand_exactly_or_stop_at_a_bound(graph: dict[str, Any]) -> None:
    cyclic, upper, runs = _expected(graph)
    errors = outcome(_commands_config(graph))
    if cyclic:
        assert errors and all("more than" in m for m in errors), errors
    elif upper <= MAX_STEPS:
        assert not errors, errors
        compiled = compile_config(_commands_config(graph), pipeline_values=VALUES)
        assert [s.command for s in compiled.jobs["build"].steps] == _runs(graph, "c0")
    elif runs > MAX_STEPS:
        assert any(f"more than {MAX_STEPS} steps" in m for m in errors), errors


def test_steps_arguments_that_double_at_every_level_stop_at_the_steps_bound() -> None:
    # Each level splices its steps argument twice: 2**30 steps were built (uncounted) before this was bounded.
    arg: Any = [{"run": "echo"}]
    for _ in range(30):
        arg = [{"wrap": {"s": arg}}]
    doc = {"version": 2.1, "commands": {"wrap": WRAP}, "jobs": {"build": {"machine": True, "steps": arg}}}
    errors = outcome(yaml.safe_dump(doc))
    assert any(f"more than {MAX_STEPS} steps" in m for m in errors), errors


@settings(max_examples=25, **SETTINGS)
@given(st.lists(st.integers(1, 20), min_size=1, max_size=5), st.booleans())
@example([20] * 5, False)
@example([10, 10, 10], True)
def test_matrices_make_every_combination_or_refuse_past_the_bound(sizes: list[int], exclude_one: bool) -> None:
    names = [f"p{i}" for i in range(len(sizes))]
    job = {
        "parameters": {n: {"type": "integer", "default": 0} for n in names},
        "docker": [{"image": "cimg/base:stable"}],
        "steps": [{"run": "echo " + " ".join(f"<< parameters.{n} >>" for n in names)}],
    }
    matrix: dict[str, Any] = {"parameters": {n: list(range(size)) for n, size in zip(names, sizes, strict=True)}}
    if exclude_one:
        matrix["exclude"] = [dict.fromkeys(names, 0)]
    doc = {"version": 2.1, "jobs": {"build": job}, "workflows": {"main": {"jobs": [{"build": {"matrix": matrix}}]}}}
    total = math.prod(sizes)
    errors = outcome(yaml.safe_dump(doc))
    if total > MAX_MATRIX:
        assert errors == [f"this matrix makes {total} jobs; at most {MAX_MATRIX} are allowed"]
        return
    assert not errors, errors
    (workflow,) = compile_config(yaml.safe_dump(doc), pipeline_values=VALUES).workflows
    assert len({job.name for job in workflow.jobs}) == len(workflow.jobs) == total - exclude_one


def _bomb(shape: str, fan_out: int, depth: int) -> str:
    """A flow value whose anchors are defined inside it and that expands to about fan_out ** (depth + 1) leaves."""
    leaf = {"values": '"lol"', "logic": "true", "steps": "{run: lol}"}[shape]
    level = f"&b0 [{', '.join([leaf] * fan_out)}]"
    if shape == "logic":
        level = f"&b0 {{and: [{', '.join([leaf] * fan_out)}]}}"
    for i in range(1, depth + 1):
        again = [f"*b{i - 1}"] * (fan_out - 1)
        if shape == "values":
            level = f"&b{i} [{', '.join([level, *again])}]"
        elif shape == "logic":
            level = f"&b{i} {{and: [{', '.join([level, *again])}]}}"
        else:
            level = f"&b{i} [{', '.join(f'{{steps: {x}}}' for x in [level, *again])}]"
    return level


JOB = "    docker: [{image: cimg/base:stable}]\n"
PLACES: dict[str, tuple[str, str]] = {
    "run environment": (
        "values",
        "jobs:\n  build:\n" + JOB + "    steps: [{run: {command: x, environment: {X: B}}}]\n",
    ),
    "job environment": ("values", "jobs:\n  build:\n" + JOB + "    environment: {X: B}\n    steps: [checkout]\n"),
    "docker image": ("values", "jobs:\n  build:\n    docker: [{image: x, auth: B}]\n    steps: [checkout]\n"),
    "command argument": (
        "values",
        "commands:\n  c:\n    parameters: {x: {type: string, default: ''}}\n    steps: [{run: << parameters.x >>}]\n"
        "jobs:\n  build:\n" + JOB + "    steps: [{c: {x: B}}, {c: {x: B}}]\n",
    ),
    "job argument": (
        "values",
        "jobs:\n  build:\n    parameters: {x: {type: string, default: ''}}\n" + JOB + "    steps: [checkout]\n"
        "workflows:\n  w:\n    jobs: [{build: {name: a, x: B}}, {build: {name: b, x: B}}]\n",
    ),
    "matrix values": (
        "values",
        "jobs:\n  build:\n    parameters: {x: {type: string, default: ''}}\n" + JOB + "    steps: [checkout]\n"
        "workflows:\n  w:\n    jobs: [{build: {matrix: {parameters: {x: B}}}}]\n",
    ),
    "pipeline parameter": ("values", "parameters: {p: {type: string, default: B}}\njobs:\n  build:\n" + JOB),
    "executor argument": (
        "values",
        "executors:\n  e:\n    parameters: {x: {type: string, default: ''}}\n"
        + JOB
        + "    environment: {X: << parameters.x >>}\n"
        "jobs:\n  build:\n    executor: {name: e, x: B}\n    steps: [checkout]\n",
    ),
    "inline orb command": (
        "values",
        "orbs:\n  o:\n    commands:\n      c:\n        steps: [{run: {command: x, environment: {X: B}}}]\n"
        "jobs:\n  build:\n" + JOB + "    steps: [o/c, o/c]\n",
    ),
    "inline orb executor": (
        "values",
        "orbs:\n  o:\n    executors:\n      e:\n" + JOB.replace("    ", "        ") + "        environment: {X: B}\n"
        "jobs:\n  build:\n    executor: o/e\n    steps: [checkout]\n",
    ),
    "workflow triggers": (
        "values",
        "jobs:\n  build:\n" + JOB + "    steps: [checkout]\nworkflows:\n  w:\n    triggers: B\n    jobs: [build]\n",
    ),
    "filters": (
        "values",
        "jobs:\n  build:\n" + JOB + "    steps: [checkout]\nworkflows:\n  w:\n"
        "    jobs: [{build: {filters: {branches: {only: B}}}}]\n",
    ),
    "unused key": ("values", "references: B\njobs:\n  build:\n" + JOB + "    steps: [checkout]\n"),
    "step condition": ("logic", "jobs:\n  build:\n" + JOB + "    steps: [{when: {condition: B, steps: [checkout]}}]\n"),
    "workflow condition": (
        "logic",
        "jobs:\n  build:\n" + JOB + "    steps: [checkout]\nworkflows:\n  w:\n    when: B\n    jobs: [build]\n",
    ),
    "job steps": ("steps", "jobs:\n  build:\n" + JOB + "    steps: B\n"),
    "steps argument": (
        "steps",
        "commands:\n  c:\n    parameters: {s: {type: steps}}\n    steps: [{steps: << parameters.s >>}]\n"
        "jobs:\n  build:\n" + JOB + "    steps: [{c: {s: B}}]\n",
    ),
    "pre-steps": (
        "steps",
        "jobs:\n  build:\n" + JOB + "    steps: [checkout]\nworkflows:\n  w:\n    jobs: [{build: {pre-steps: B}}]\n",
    ),
}
BOUND = {"values": MAX_NODES, "logic": MAX_PARTS, "steps": MAX_STEPS}


@settings(max_examples=50, **SETTINGS)
@given(st.sampled_from(sorted(PLACES)), st.integers(2, 10), st.integers(0, 14))
@example("matrix values", 10, 5)  # every matrix job's name spelt the whole value out
@example("step condition", 10, 5)  # conditions were evaluated through every alias
@example("job argument", 10, 8)  # storing a job compared bodies through every alias
@example("workflow triggers", 10, 6)  # triggers were not counted, then dumped in full
@example("steps argument", 2, 16)
def test_yaml_alias_bombs_stop_at_a_bound(place: str, fan_out: int, depth: int) -> None:
    shape, template = PLACES[place]
    text = "version: 2.1\n" + template.replace("B", _bomb(shape, fan_out, depth))
    errors = outcome(text)
    if fan_out ** (depth + 1) > BOUND[shape]:
        assert any("more than" in m for m in errors), errors


def test_a_matrix_whose_values_are_big_is_refused_before_its_jobs_are_named() -> None:
    bomb = _bomb("values", 10, 3)  # 10**4 values: fine once, not in each of 100 jobs' names
    text = (
        "version: 2.1\njobs:\n  build:\n"
        "    parameters: {x: {type: string, default: ''}, y: {type: integer, default: 0}}\n"
        + JOB
        + "    steps: [checkout]\nworkflows:\n  w:\n    jobs: [{build: {matrix: {parameters: "
        + f"{{x: [{bomb}], y: [{', '.join(map(str, range(100)))}]}}}}}}}}]\n"
    )
    assert outcome(text) == [f"this matrix passes more than {MAX_NODES} values to its 100 jobs (a YAML alias bomb?)"]


def test_a_condition_with_too_many_parts_is_refused_even_when_the_config_is_small_enough() -> None:
    condition = _bomb("logic", 10, 3)  # 10**4 parts, evaluated once per call of the command
    text = (
        "version: 2.1\ncommands:\n  c:\n    steps: [{when: {condition: " + condition + ", steps: [checkout]}}]\n"
        "jobs:\n  build:\n" + JOB + "    steps: [c, c, c, c, c, c, c, c, c, c]\n"
    )
    errors = outcome(text)
    assert errors and all(f"more than {MAX_PARTS} parts" in m for m in errors), errors


def _nested(style: str, depth: int) -> tuple[str, str]:
    """A value nested `depth` levels deep, and the top-level definitions it needs."""
    if style == "flow":
        return "", "[" * depth + "x" + "]" * depth
    if style == "aliases":  # each anchor one level inside the one before; the chain is written flat
        chain = ["&n0 [x]", *(f"&n{i} [*n{i - 1}]" for i in range(1, depth))]
        return "defs: [" + ", ".join(chain) + "]\n", f"*n{depth - 1}"
    return "", "".join("\n" + " " * (14 + 2 * i) + f"k{i}:" for i in range(depth)) + " x"


@settings(max_examples=30, **SETTINGS)
@given(st.sampled_from(("flow", "block", "aliases")), st.integers(1, 400))
@example("block", 900)  # interpolation recursed once per level and hit Python's recursion limit
@example("flow", MAX_DEPTH + 1)
@example("aliases", MAX_DEPTH + 1)
def test_deep_nesting_is_refused_with_a_position(style: str, depth: int) -> None:
    defs, value = _nested(style, depth)
    text = f"version: 2.1\n{defs}jobs:\n  build:\n{JOB}    steps:\n      - run:\n          command: x\n"
    text += f"          environment:\n            X: {value}\n"
    errors = outcome(text)
    deepest = depth + 6 if style != "aliases" else depth + 1  # the levels above the value, or inside `defs`
    if deepest > MAX_DEPTH:
        assert any("levels deep" in m for m in errors), errors


def _orb_chain(root: Path, fan_out: int, depth: int) -> DirectoryOrbSource:
    """Orbs ns/o0 .. ns/o{depth-1} on disk, each importing the next under `fan_out` aliases."""
    (root / "ns").mkdir()
    for i in range(depth):
        imports = {f"a{j}": f"ns/o{i + 1}@1.0.0" for j in range(fan_out)} if i + 1 < depth else {}
        orb = {"version": 2.1, "orbs": imports, "commands": {"hi": {"steps": [{"run": f"echo {i}"}]}}}
        (root / "ns" / f"o{i}@1.0.0.yml").write_text(yaml.safe_dump(orb))
    return DirectoryOrbSource(root)


@pytest.mark.parametrize(("depth", "message"), [(10, ""), (12, "orbs import each other more than 10 levels deep")])
def test_an_orb_imported_under_many_aliases_is_expanded_once(tmp_path: Path, depth: int, message: str) -> None:
    # Ten aliases per level, ten levels: filling each import separately meant 10**10 scopes.
    text = "version: 2.1\norbs: {top: ns/o0@1.0.0}\njobs:\n  build:\n" + JOB + "    steps: [top/hi]\n"
    source = _orb_chain(tmp_path, 10, depth)
    try:
        compiled = compile_config(text, orb_source=source, pipeline_values=VALUES)
    except ConfigErrors as exc:
        assert message and all(message in e.message for e in exc.errors), exc
        assert all(e.line is not None for e in exc.errors)
        return
    assert not message
    assert [s.command for s in compiled.jobs["build"].steps] == ["echo 0"]


# --- d. expressions -----------------------------------------------------------------------------------------------

EXPRESSION_WORDS = (
    "and", "or", "not", "true", "false", "contains", "matches", "starts-with", "==", "!=", "<", ">", "<=",
    ">=", "(", ")", "!", '"a"', '"', "/ab+/", "/(/", "/[a-/", "/", "0", "9223372036854775808", "1", "x",
    "pipeline.git.branch", "y.z", "=", "AND", "\\", "é",
)  # fmt: skip
flat_values = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=8), st.floats(), st.lists(st.integers(), max_size=3)
)


@st.composite
def expressionish(draw: st.DrawFn) -> str:
    return " ".join(draw(st.lists(st.sampled_from(EXPRESSION_WORDS), max_size=12)))


@settings(max_examples=300, **SETTINGS)
@given(st.one_of(st.text(max_size=60), expressionish()))
@example("(" * 200)
@example("not " * 200 + "x")
def test_parse_raises_only_expression_errors(text: str) -> None:
    try:
        parse(text)
    except ExpressionError as exc:
        assert exc.message and exc.describe(text)


@settings(max_examples=300, **SETTINGS)
@given(expressionish(), st.dictionaries(st.sampled_from(("x", "y.z", "pipeline.git.branch", "a")), flat_values))
def test_evaluate_raises_only_expression_errors(text: str, env: dict[str, Any]) -> None:
    try:
        evaluate(text, env)
    except ExpressionError as exc:
        assert exc.message and exc.describe(text)
