"""The compiler: configs compile into jobs and workflows; bad ones say what and where."""

from pathlib import Path

import pytest

from rondo.config import CheckoutStep, ConfigErrors, RunStep, compile_config
from tests.conftest import SHARED

GOOD = """\
version: 2.1
defaults: &defaults
  machine: true
  environment:
    FLAG: on
    NUMBER: 3
jobs:
  build:
    <<: *defaults
    steps:
      - checkout
      - run: make build
      - run:
          name: Test
          command: make test
          no_output_timeout: 1.5m
          when: always
          environment: {MODE: "on"}
  lint:
    docker:
      - image: cimg/python:3.11
        environment: {A: b}
      - image: postgres:15
        name: db
        command: [postgres, -c, fsync=off]
    resource_class: large
    parallelism: 3
    steps: [checkout]
workflows:
  version: 2
  main:
    jobs:
      - build
      - lint:
          name: lint-it
          context: [org-global]
          requires:
            - build
      - hold:
          type: approval
          requires: [lint-it]
      - notify:
          requires:
            - build: [success, failed]
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(ConfigErrors) as info:
        compile_config(text)
    return [str(e) for e in info.value.errors]


def test_a_realistic_config_compiles() -> None:
    cfg = compile_config(
        GOOD.replace("      - notify:\n          requires:\n            - build: [success, failed]\n", "")
    )
    build = cfg.jobs["build"]
    assert build.executor.type == "machine"
    # YAML 1.1 as CircleCI reads it: unquoted `on` is a boolean, written into the environment as "true".
    assert build.environment == {"FLAG": "true", "NUMBER": "3"}
    assert isinstance(build.steps[0], CheckoutStep)
    run, test = build.steps[1], build.steps[2]
    assert isinstance(run, RunStep) and (run.name, run.command) == ("make build", "make build")
    assert isinstance(test, RunStep) and test.no_output_timeout_s == 90 and test.when == "always"
    assert test.environment == {"MODE": "on"}
    lint = cfg.jobs["lint"]
    assert lint.executor.type == "docker" and lint.executor.resource_class == "large" and lint.parallelism == 3
    assert [i.image for i in lint.executor.docker] == ["cimg/python:3.11", "postgres:15"]
    assert lint.executor.docker[1].command == ("postgres", "-c", "fsync=off")
    (wf,) = cfg.workflows
    assert [(j.name, j.job, dict(j.requires), j.type) for j in wf.jobs] == [
        ("build", "build", {}, "build"),
        ("lint-it", "lint", {"build": ("success",)}, "build"),
        ("hold", "hold", {"lint-it": ("success",)}, "approval"),
    ]
    assert wf.jobs[1].context == ("org-global",)


def test_requires_with_statuses() -> None:
    text = GOOD.replace("  lint:\n", "  notify:\n    machine: true\n    steps: [checkout]\n  lint:\n")
    cfg = compile_config(text)
    (notify,) = [j for j in cfg.workflows[0].jobs if j.name == "notify"]
    assert dict(notify.requires) == {"build": ("success", "failed")}


def test_version_2_without_workflows_runs_build() -> None:
    cfg = compile_config("version: 2\njobs:\n  build:\n    machine: true\n    steps:\n      - run: echo hi\n")
    assert [(w.name, [j.name for j in w.jobs]) for w in cfg.workflows] == [("workflow", ["build"])]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("jobs: {}\n", "`version` is required"),
        ("version: 3\n", ":1:1 at version: `version` must be 2, 2.0 or 2.1, not 3"),
        ("- a\n- b\n", "the config must be a map"),
        ("version: 2.1\njobs:\n  a: [1\n", "YAML error"),
        (
            "version: 2.1\njobs:\n  build:\n    steps: [checkout]\n",
            ":3:3 at jobs.build: job 'build' needs an executor",
        ),
        (
            "version: 2.1\njobs:\n  build:\n    machine: true\n    steps:\n      - run:\n          name: x\n",
            ":6:9 at jobs.build.steps[0].run: a `run` step needs `command`",
        ),
        (
            "version: 2.1\njobs:\n  build:\n    machine: true\n    steps:\n      - save_cache: {key: x}\n",
            ":6:9 at jobs.build.steps[0].save_cache: the `save_cache` step needs `paths`",
        ),
        (
            "version: 2.1\njobs:\n  build:\n    machine: true\n    steps: [checkout]\n"
            "workflows:\n  w:\n    jobs:\n      - build\n      - deploy\n",
            ":10:9 at workflows.w.jobs[1]: Cannot find a definition for job named deploy",
        ),
        (
            "version: 2.1\njobs:\n  a:\n    machine: true\n    steps: [checkout]\n  b:\n    machine: true\n"
            "    steps: [checkout]\nworkflows:\n  w:\n    jobs:\n"
            "      - a: {requires: [b]}\n      - b: {requires: [a]}\n",
            "is part of a cycle",
        ),
        (
            "version: 2.1\norbs:\n  node: circleci/node@5\njobs:\n  build:\n    machine: true\n    steps: [checkout]\n",
            ":3:3 at orbs.node: Orb circleci/node does not exist or is private",
        ),
    ],
)
def test_errors_say_what_and_where(text: str, expected: str) -> None:
    messages = errors_of(text)
    assert any(expected in m for m in messages), messages
    assert all(m.startswith(".circleci/config.yml") for m in messages)


def test_every_error_is_reported_in_one_pass() -> None:
    text = (
        "version: 2.1\njobs:\n  build:\n    machine: true\n    parallelism: 0\n    steps:\n"
        "      - run: {command: x, when: sometimes}\n"
        "  b:\n    docker: []\n    steps: [checkout]\n"
    )
    messages = errors_of(text)
    assert len(messages) == 3, messages
    assert any("jobs.build.parallelism" in m for m in messages)
    assert any("jobs.build.steps[0].run.when" in m for m in messages)
    assert any("jobs.b.docker" in m for m in messages)


def test_billion_laughs_in_environment_is_an_error_not_a_hang() -> None:
    lol = "version: 2.1\na: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for i in range(1, 9):
        lol += f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}" if i > 1 else "*a"] * 10) + "]\n"
    lol += "jobs:\n  build:\n    machine: true\n    environment: {BOOM: *a8}\n    steps: [checkout]\n"
    assert any("alias bomb" in m for m in errors_of(lol))


@pytest.mark.parametrize("junk", [b"\x00\x01\x02", b"\xff\xfe", b"{{{{", b"", b"version: !!python/object:os.system x"])
def test_junk_never_escapes_as_another_exception(junk: bytes) -> None:
    with pytest.raises(ConfigErrors):
        compile_config(junk.decode("utf-8", errors="replace"))


def test_every_corpus_config_compiles_or_reports_errors() -> None:
    paths = sorted((SHARED / "corpus" / "configs").rglob("*.yml"))
    assert paths, f"no corpus configs under {SHARED}"
    compiled = 0
    for path in paths:
        try:
            compile_config(path.read_text(errors="replace"), filename=str(Path(path).name))
            compiled += 1
        except ConfigErrors as exc:
            assert all(e.message for e in exc.errors)
    assert compiled >= 1


def test_a_key_written_twice_keeps_the_last_value_as_circleci_does() -> None:
    # SnakeYAML (CircleCI's parser) keeps the last value; real configs (ethereum/solidity) rely on it.
    cfg = compile_config("version: 2.1\njobs:\n  build:\n    machine: true\n    steps: [checkout]\n"
                         "    environment: {A: '1'}\n    environment: {A: '2'}\n")  # fmt: skip
    assert cfg.jobs["build"].environment == {"A": "2"}
