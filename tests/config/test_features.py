"""Config language features of CONFIG-SPEC §6-§12, one behaviour per test, and their error cases."""

from __future__ import annotations

from typing import Any

import pytest

from rondo.config import ConfigErrors, compile_config, local_pipeline_values, process_config
from rondo.config.orbs import OrbRef, pick_version

HEAD = "version: 2.1\n"
DOCKER = "    docker: [{image: cimg/base:stable}]\n"


def jobs_of(text: str, **kw: Any) -> dict[str, Any]:
    return process_config(text, **kw).data["jobs"]


def errors_of(text: str, **kw: Any) -> list[str]:
    with pytest.raises(ConfigErrors) as info:
        compile_config(text, **kw)
    return [str(e) for e in info.value.errors]


def test_command_parameters_defaults_and_typed_substitution() -> None:
    text = (
        HEAD
        + """
commands:
  greet:
    parameters:
      to: {type: string, default: world}
      loud: {type: boolean, default: false}
    steps:
      - run: echo hello << parameters.to >><<# parameters.loud >>!<</ parameters.loud >>
jobs:
  build:
    parameters: {n: {type: integer, default: 3}}
    parallelism: << parameters.n >>
"""
        + DOCKER
        + """    steps:
      - greet
      - greet: {to: you, loud: true}
"""
    )
    build = jobs_of(text)["build"]
    assert build["parallelism"] == 3
    assert build["steps"] == [{"run": "echo hello world"}, {"run": "echo hello you!"}]


def test_when_and_unless_steps_use_logic_statements() -> None:
    text = (
        HEAD
        + """
parameters:
  deploy: {type: boolean, default: false}
jobs:
  build:
"""
        + DOCKER
        + """    steps:
      - when:
          condition: {or: [<< pipeline.parameters.deploy >>, {equal: [main, << pipeline.git.branch >>]}]}
          steps: [{run: on-main}]
      - unless:
          condition: << pipeline.parameters.deploy >>
          steps: [{run: not-deploying}]
      - when:
          condition: {matches: {pattern: "^feat/.*$", value: << pipeline.git.branch >>}}
          steps: [{run: feature}]
"""
    )
    assert jobs_of(text)["build"]["steps"] == [{"run": "on-main"}, {"run": "not-deploying"}]
    steps = jobs_of(text, parameters={"deploy": True})["build"]["steps"]
    assert steps == [{"run": "on-main"}]


def test_workflow_when_with_an_expression_skips_the_workflow() -> None:
    text = (
        HEAD
        + "jobs:\n  build:\n"
        + DOCKER
        + "    steps: [checkout]\n"
        + """
workflows:
  main-only:
    when: pipeline.git.branch == "main"
    jobs: [build]
  never:
    unless: true
    jobs: [build]
"""
    )
    data = process_config(text).data
    assert list(data["workflows"]) == ["version", "main-only"]
    values = local_pipeline_values() | {"pipeline.git.branch": "dev"}
    assert list(process_config(text, pipeline_values=values).data["workflows"]) == ["version"]


def test_pipeline_parameters_are_type_checked_and_undeclared_ones_rejected() -> None:
    text = (
        HEAD + "parameters:\n  n: {type: integer, default: 1}\njobs:\n  build:\n" + DOCKER + "    steps: [checkout]\n"
    )
    errors = errors_of(text, parameters={"n": "x", "other": 1})
    assert any("Unexpected argument(s): other" in e for e in errors)
    assert any("parameter 'n'" in e and "expected type integer" in e for e in errors)


def test_unknown_arguments_and_missing_required_ones_name_the_call() -> None:
    text = (
        HEAD
        + """
commands:
  c:
    parameters: {x: {type: string}}
    steps: [{run: echo << parameters.x >>}]
jobs:
  build:
"""
        + DOCKER
        + """    steps:
      - c: {y: 1}
"""
    )
    (message,) = errors_of(text)
    assert ":9:9 at jobs.build.steps[0]" in message or "jobs.build.steps[0]" in message
    assert "Unexpected argument(s): y" in message and "Missing required argument(s): x" in message


def test_a_command_that_calls_itself_is_an_error_not_a_hang() -> None:
    text = HEAD + "commands:\n  loop:\n    steps: [loop]\njobs:\n  build:\n" + DOCKER + "    steps: [loop]\n"
    assert any("nest more than" in e for e in errors_of(text))


def test_enum_and_boolean_type_errors() -> None:
    text = (
        HEAD
        + """
jobs:
  build:
    parameters:
      size: {type: enum, enum: [small, large], default: small}
      flag: {type: string, default: on}
"""
        + DOCKER
        + "    steps: [checkout]\n"
    )
    errors = errors_of(text)
    assert any("flag" in e and "expected type string" in e for e in errors)


def test_escaped_delimiters_stay_literal() -> None:
    text = HEAD + "jobs:\n  build:\n" + DOCKER + "    steps:\n      - run: cat \\<<EOF\n"
    assert jobs_of(text)["build"]["steps"] == [{"run": "cat <<EOF"}]


def test_same_job_twice_gets_numbered_names_and_ambiguous_requires_is_an_error() -> None:
    text = (
        HEAD
        + "jobs:\n  hello:\n"
        + DOCKER
        + "    steps: [checkout]\n"
        + """
workflows:
  w:
    jobs: [hello, hello, {after: {type: approval, requires: [hello]}}]
"""
    )
    assert any("invoked more than once" in e for e in errors_of(text))


def test_requires_unknown_job_uses_circleci_message() -> None:
    text = (
        HEAD
        + "jobs:\n  a:\n"
        + DOCKER
        + "    steps: [checkout]\n"
        + """
workflows:
  w:
    jobs: [{a: {requires: [b]}}]
"""
    )
    assert any("Job 'a' requires 'b', which is the name of 0 other jobs in workflow 'w'" in e for e in errors_of(text))


def test_inline_orb_elements_are_reached_by_alias() -> None:
    text = (
        HEAD
        + """
orbs:
  tools:
    executors:
      small: {docker: [{image: cimg/base:small}], resource_class: small}
    commands:
      hi: {steps: [{run: hi}]}
    jobs:
      check: {executor: small, steps: [hi]}
workflows:
  w:
    jobs: [tools/check]
"""
    )
    job = jobs_of(text)["tools/check"]
    assert job["docker"] == [{"image": "cimg/base:small"}] and job["resource_class"] == "small"
    assert job["steps"] == [{"run": "hi"}]


def test_pipeline_parameters_are_not_visible_inside_orbs() -> None:
    text = (
        HEAD
        + """
parameters:
  p: {type: string, default: x}
orbs:
  o:
    jobs:
      j: {docker: [{image: a}], steps: [{run: echo << pipeline.parameters.p >>}]}
workflows:
  w:
    jobs: [o/j]
"""
    )
    assert any('Referred to a variable "pipeline.parameters.p"' in e for e in errors_of(text))


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [("1.2.3", "1.2.3"), ("1.2", "1.2.9"), ("1", "1.10.0"), ("volatile", "2.0.0"), ("3", None), ("dev:x", "dev:x")],
)
def test_orb_version_resolution(wanted: str, expected: str | None) -> None:
    assert pick_version(["1.2.3", "1.2.9", "1.10.0", "2.0.0", "dev:x"], wanted) == expected


def test_orb_reference_parse_errors_show_the_right_form() -> None:
    with pytest.raises(ValueError, match="namespace/name@version"):
        OrbRef.parse("circleci/node")


def test_expression_filters_and_classic_filters_reach_the_model() -> None:
    text = (
        HEAD
        + "jobs:\n  a:\n"
        + DOCKER
        + "    steps: [checkout]\n"
        + """
workflows:
  w:
    jobs:
      - a: {filters: {branches: {only: [main, /release-.*/]}, tags: {only: /^v.*/}}}
      - a: {name: b, filters: 'pipeline.git.branch == "main"'}
"""
    )
    from rondo.config import job_runs

    (wf,) = compile_config(text).workflows
    classic, expr = wf.jobs
    assert job_runs(classic.filters, "release-1", None) and not job_runs(classic.filters, "dev", None)
    assert job_runs(classic.filters, None, "v1.0") and not job_runs(classic.filters, None, "x")
    assert not job_runs(None, None, "v1.0"), "no tags filter: never runs for a tag"
    assert job_runs(expr.filters, "main", None, {"pipeline.git.branch": "main"})
    assert not job_runs(expr.filters, "dev", None, {"pipeline.git.branch": "dev"})


def test_step_auto_reruns_reach_the_model_and_bad_ones_are_errors() -> None:
    from rondo.config import RunStep

    ok = (
        HEAD
        + "jobs:\n  build:\n"
        + DOCKER
        + "    steps:\n      - run: {command: make, max_auto_reruns: 3, auto_rerun_delay: 30s}\n"
    )
    (step,) = compile_config(ok).jobs["build"].steps
    assert isinstance(step, RunStep) and (step.max_auto_reruns, step.auto_rerun_delay_s) == (3, 30.0)
    assert any("max_auto_reruns must be between 1 and 5" in e for e in errors_of(ok.replace("3,", "9,")))
    assert any("must not exceed 10 minutes" in e for e in errors_of(ok.replace("30s", "11m")))
    assert any("requires max_auto_reruns" in e for e in errors_of(ok.replace("max_auto_reruns: 3, ", "")))


def test_job_groups_expand_between_start_and_end_markers() -> None:
    text = HEAD + "jobs:\n  lint:\n" + DOCKER + "    steps: [checkout]\n  unit:\n" + DOCKER + "    steps: [checkout]\n"
    text += (
        "  deploy:\n"
        + DOCKER
        + "    steps: [checkout]\n"
        + """
job-groups:
  checks:
    jobs: [lint, {unit: {requires: [lint]}}]
workflows:
  w:
    jobs:
      - checks: {name: pr}
      - deploy: {requires: [pr]}
"""
    )
    (wf,) = compile_config(text).workflows
    got = {j.name: (j.type, dict(j.requires)) for j in wf.jobs}
    ok = ("success",)
    assert got == {
        "pr-start": ("no-op", {}),
        "pr-lint": ("build", {"pr-start": ok}),
        "pr-unit": ("build", {"pr-lint": ok}),
        "pr-end": ("no-op", {"pr-unit": ok}),
        "deploy": ("build", {"pr-end": ok}),
    }
    nested = text.replace("jobs: [lint, {unit: {requires: [lint]}}]", "jobs: [lint, {unit: {requires: [nope]}}]")
    assert any('"nope" is not a member of this job group' in e for e in errors_of(nested))


def test_image_logins_auth_and_aws_auth() -> None:
    ecr = "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1"
    text = f"""version: 2.1
jobs:
  build:
    docker:
      - image: {ecr}
        aws_auth: {{aws_access_key_id: $ECR_KEY, aws_secret_access_key: $ECR_SECRET}}
      - image: {ecr}
        aws_auth: {{oidc_role_arn: "arn:aws:iam::123456789012:role/ci"}}
      - image: private/db
        auth: {{username: deploy, password: $DB_PASSWORD}}
    steps: [checkout]
workflows:
  main: {{jobs: [build]}}
"""
    images = compile_config(text).jobs["build"].executor.docker
    assert images[0].aws_auth == {"aws_access_key_id": "$ECR_KEY", "aws_secret_access_key": "$ECR_SECRET"}
    assert images[1].aws_auth == {"oidc_role_arn": "arn:aws:iam::123456789012:role/ci"}
    assert images[2].auth == {"username": "deploy", "password": "$DB_PASSWORD"}
    bad = text.replace("aws_secret_access_key: $ECR_SECRET", "region: us-east-1")
    assert any("`aws_auth` needs `aws_access_key_id` and `aws_secret_access_key`" in e for e in errors_of(bad))
