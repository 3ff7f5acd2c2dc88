"""Every real-world config of the shared corpus compiles with the corpus orbs; every oracle pair holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from rondo.config import (
    ConfigErrors,
    DirectoryOrbSource,
    compile_config,
    local_pipeline_values,
    process_config,
)

SHARED = Path(__file__).resolve().parents[3] / "shared"
CORPUS = SHARED / "corpus"
ORBS = DirectoryOrbSource(CORPUS / "orbs")
ORACLES = CORPUS / "oracles"

# Orbs whose source is not public (corpus/orbs/INDEX.md: "source repo not available"). Configs that
# import them must fail with a clear orb-not-found error naming that orb, and nothing else.
MISSING_ORBS = {
    "apollo/circleci-secops-orb", "artsy/hokusai", "artsy/release", "auth0/ship", "circleci/bats",
    "circleci/build-tools", "circleci/cimg", "circleci/circleci-cli", "circleci/os-detect", "percy/agent",
    "prometheus/prometheus", "iynere/compare-url", "snyk/prodsec-orb", "prefix-dev/pixi",
}  # fmt: skip


# Continuation configs whose orb is an empty inline placeholder (`docker: {}`): orb-tools' `continue`
# job swaps the packed orb in before they run, so on their own they cannot compile.
PLACEHOLDER_ORBS = {
    "CircleCI-Public__docker-orb__test-deploy": "docker",
    "CircleCI-Public__slack-orb__test-deploy": "slack",
    "CircleCI-Public__orb-tools-orb__test-deploy": "orb-tools-alpha",
}
# The corpus packed a different major version of these orbs (orbs/INDEX.md "DIFFERENT MAJOR").
SUBSTITUTED_ORBS = {"hashicorp__packer": "win", "influxdata__influxdb": "aws-s3"}


def _explained(message: str, aliases: set[str]) -> bool:
    if any(f"Orb {orb} does not exist" in message for orb in MISSING_ORBS):
        return True
    return any(f"{a}/" in message or f'orb "{a}"' in message or f"in orb {a}" in message for a in aliases)


def _values() -> dict[str, Any]:
    values = local_pipeline_values()
    values["pipeline.git.revision"] = "0123456789abcdef0123456789abcdef01234567"
    return values


CACHE: dict[str, Any] = {}


@pytest.mark.parametrize("path", sorted((CORPUS / "configs").glob("*.yml")), ids=lambda p: p.stem)
def test_corpus_config_compiles(path: Path) -> None:
    text = path.read_text()
    try:
        compiled = compile_config(text, orb_source=ORBS, orb_cache=CACHE, pipeline_values=_values())
    except ConfigErrors as exc:
        bad_aliases = {e.path.split(".", 1)[1] for e in exc.errors if e.path.startswith("orbs.")}
        bad_aliases |= {PLACEHOLDER_ORBS.get(path.stem, ""), SUBSTITUTED_ORBS.get(path.stem, "")} - {""}
        unexplained = [e for e in exc.errors if not _explained(e.message, bad_aliases)]
        assert not unexplained, "\n".join(map(str, unexplained))
        assert all(e.line is not None for e in exc.errors), "every error has a position"
        return
    assert compiled.workflows or compiled.setup or compiled.jobs
    for wf in compiled.workflows:
        for job in wf.jobs:
            assert job.type == "approval" or job.job in compiled.jobs
    again = yaml.safe_load(compiled.processed_yaml)
    assert again["version"] == 2


def _process(text: str, **kw: Any) -> dict[str, Any]:
    return process_config(text, orb_source=ORBS, **kw).data


def test_node_orb_oracle_matches_circleci_output() -> None:
    base = ORACLES / "config-process"
    expected = yaml.safe_load((base / "node-orb-4.7.0-test.expected.yml").read_text())
    source = DirectoryOrbSource(base.parent / "_none")

    class Single:
        def resolve(self, ref: Any) -> Any:
            from rondo.config import OrbRef, OrbVersion

            text = (base / "orb-circleci-node@4.7.0.packed.yml").read_text()
            return OrbVersion(OrbRef("circleci", "node", "4.7.0"), text)

    del source
    processed = process_config((base / "node-orb-4.7.0-test.input.yml").read_text(), orb_source=Single())
    assert yaml.safe_load(processed.to_yaml()) == expected
    assert processed.to_yaml().startswith("# Orb 'circleci/node@4.7.0' resolved to 'circleci/node@4.7.0'\n")


def _docs(name: str) -> tuple[str, Any]:
    base = ORACLES / "docs-expansions"
    text = (base / f"{name}.input.yml").read_text()
    expected_path = base / f"{name}.expected.yml"
    return text, yaml.safe_load(expected_path.read_text()) if expected_path.exists() else None


def test_steps_parameter_splices_in_place() -> None:
    text, expected = _docs("rc-steps-parameter-splice")
    data = _process(text)
    assert data["jobs"]["build"]["steps"] == expected["steps"]


def test_executor_override_keeps_job_docker_and_merges_environment() -> None:
    text, expected = _docs("rc-executor-override")
    data = _process(text)
    assert data["jobs"]["build"] == expected["jobs"]["build"]


def test_parameterized_executor() -> None:
    text, expected = _docs("rc-parameterized-executor")
    data = _process(text)
    assert data["jobs"]["build"] == expected["jobs"]["build"]


MATRIX_JOBS = """
version: 2.1
jobs:
  build:
    parameters: {version: {type: string, default: ""}, platform: {type: string, default: ""},
                 a: {type: integer, default: 0}, b: {type: integer, default: 0}}
    docker: [{image: cimg/base:stable}]
    steps: [{run: echo << parameters.version >> << parameters.platform >>}]
  deploy:
    parameters: {version: {type: string}}
    docker: [{image: cimg/base:stable}]
    steps: [{run: echo << parameters.version >>}]
"""


def _workflow_jobs(data: dict[str, Any], wf: str = "workflow") -> list[tuple[str, dict[str, Any]]]:
    out = []
    for item in data["workflows"][wf]["jobs"]:
        if isinstance(item, str):
            out.append((item, {}))
        else:
            out.append(next(iter(item.items())))
    return out


def test_matrix_names_and_arguments() -> None:
    text, expected = _docs("cr-matrix-basic")
    data = _process(MATRIX_JOBS + text)
    keys = {opts.get("name", key): key for key, opts in _workflow_jobs(data)}
    assert len(keys) == 9
    for entry in expected["workflows"]["workflow"]["jobs"]:
        if entry == "...":
            continue
        want = entry["build"]
        assert want["name"] in keys
        body = data["jobs"][keys[want["name"]]]
        assert body["steps"][0]["run"] == f"echo {want['version']} {want['platform']}"


def test_matrix_requires_expand_matrix_values() -> None:
    text, expected = _docs("cr-matrix-requires")
    data = _process(MATRIX_JOBS + text)
    got = {opts.get("name", key): opts.get("requires", []) for key, opts in _workflow_jobs(data)}
    for entry in expected["workflows"]["workflow"]["jobs"]:
        ((_, want),) = entry.items()
        assert got[want["name"]] == want.get("requires", [])


def test_matrix_exclude() -> None:
    text, _ = _docs("cr-matrix-exclude")
    data = _process(MATRIX_JOBS + text)
    names = {opts.get("name", key) for key, opts in _workflow_jobs(data)}
    assert len(names) == 8
    assert "build-3-5" not in names and "build-1-4" in names


def test_matrix_job_names_sort_parameters_by_name() -> None:
    text, _ = _docs("matrix-job-names")
    text = text.replace("{xcodeversion}", '"15.4.0"')
    expected = (ORACLES / "docs-expansions" / "matrix-job-names.expected.txt").read_text().split()
    data = _process(text)
    names = {opts.get("name", key) for key, opts in _workflow_jobs(data, "all-tests")}
    assert names == {n for n in expected if n != "-"}
