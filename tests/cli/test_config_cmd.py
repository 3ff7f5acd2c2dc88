"""`rondo config validate|process` with orbs from a folder, as a user runs them."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from rondo.cli.main import app
from tests.conftest import SHARED

ORBS = SHARED / "corpus" / "orbs"
runner = CliRunner()


def test_validate_a_real_config_with_corpus_orbs() -> None:
    config = SHARED / "corpus" / "configs" / "CircleCI-Public__circleci-demo-python-django.yml"
    result = runner.invoke(app, ["config", "validate", str(config), "--orb-dir", str(ORBS)])
    assert result.exit_code == 0, result.output
    assert f"Config file at {config} is valid." in result.output


def test_validate_prints_every_error_with_its_place(tmp_path: Path) -> None:
    bad = tmp_path / "config.yml"
    bad.write_text("version: 2.1\njobs:\n  build:\n    docker: [{image: x}]\n    steps:\n      - nope\n      - run:\n")
    result = runner.invoke(app, ["config", "validate", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:6:9 at jobs.build.steps[0]: Cannot find a definition for command named nope" in result.output


def test_process_prints_version_2_and_the_original(tmp_path: Path) -> None:
    source = SHARED / "corpus" / "oracles" / "docs-expansions" / "rc-steps-parameter-splice.input.yml"
    result = runner.invoke(app, ["config", "process", str(source), "--pipeline-parameters", "{}"])
    assert result.exit_code == 0, result.output
    head, _, original = result.output.partition("# Original config.yml file:\n")
    processed = yaml.safe_load(head)
    assert processed["version"] == 2 and "commands" not in processed
    assert processed["jobs"]["build"]["steps"][0]["run"] == "make deps"
    assert original.startswith("# version: 2.1")


def test_process_rejects_parameters_that_are_not_json(tmp_path: Path) -> None:
    source = tmp_path / "c.yml"
    source.write_text("version: 2.1\njobs:\n  build:\n    machine: true\n    steps: [checkout]\n")
    result = runner.invoke(app, ["config", "process", str(source), "--pipeline-parameters", "{nope"])
    assert result.exit_code == 2
