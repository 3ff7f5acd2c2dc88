"""`rondo agent` options reach the agent's executors as an operator sets them (flag or environment)."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

import rondo.cli.agent_cmd as agent_cmd
from rondo.agent.executors.docker import DockerExecutor
from rondo.cli.main import app

runner = CliRunner()
BASE = ["agent", "--server", "http://127.0.0.1:1", "--token", "t", "--docker", "on", "--remote-docker", "off"]


@pytest.fixture
def executors(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The executors `rondo agent` would run with (the agent loop itself is not started)."""
    made: dict[str, Any] = {}

    class Loop:
        def __init__(self, config: Any, executors: dict[str, Any]) -> None:
            made.update(executors)

        async def run(self) -> None:
            return None

    monkeypatch.setattr(agent_cmd, "AgentLoop", Loop)
    monkeypatch.setattr(agent_cmd, "install_signal_handlers", lambda *_: None)
    return made


def warm_primaries(executors: dict[str, Any]) -> int:
    docker = executors["docker"]
    assert isinstance(docker, DockerExecutor)
    return docker._settings.warm_primaries


def test_warm_primaries_default_flag_and_environment(executors: dict[str, Any]) -> None:
    assert runner.invoke(app, BASE).exit_code == 0
    assert warm_primaries(executors) == 2
    assert runner.invoke(app, [*BASE, "--docker-warm-primaries", "0"]).exit_code == 0
    assert warm_primaries(executors) == 0
    assert runner.invoke(app, BASE, env={"RONDO_DOCKER_WARM_PRIMARIES": "3"}).exit_code == 0
    assert warm_primaries(executors) == 3


def test_a_negative_number_of_warm_primaries_is_refused(executors: dict[str, Any]) -> None:
    result = runner.invoke(app, [*BASE, "--docker-warm-primaries", "-1"])
    assert result.exit_code != 0 and "--docker-warm-primaries" in result.output
    assert not executors
