"""`rondo orb` against a running `rondo server`: import the orb corpus, list it, read a source back."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rondo.cli.orb_cmd import Skip, target_version
from tests.e2e.server_process import RondoServer

ORBS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "orbs"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RondoServer]:
    srv = RondoServer(tmp_path_factory.mktemp("orb-cli") / "data", RONDO_BUILTIN_AGENT="false").start()
    try:
        yield srv
    finally:
        srv.stop()


def rondo(server: RondoServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RONDO_URL": server.url, "RONDO_TOKEN": server.token}
    return subprocess.run([sys.executable, "-m", "rondo", *args], capture_output=True, text=True, env=env, timeout=120)


def outcomes(stdout: str) -> dict[str, str]:
    """file label -> the line printed for it."""
    found = {}
    for line in stdout.splitlines():
        if line.startswith(("published ", "skipped ", "failed ")):
            label = line.split(" from ", 1)[1] if line.startswith("published ") else line.split(" ")[1].rstrip(":")
            found[label.split(",")[0]] = line
    return found


def test_import_the_corpus_then_list_and_read(server: RondoServer) -> None:
    files = sorted(str(p.relative_to(ORBS)) for p in ORBS.glob("*/*.yml"))
    result = rondo(server, "orb", "import", str(ORBS))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = outcomes(result.stdout)
    assert sorted(lines) == files  # one line per file
    assert lines["circleci/node@5.0.2.yml"] == "published circleci/node@5.0.2 from circleci/node@5.0.2.yml"
    assert lines["circleci/node@5.2.yml"] == "published circleci/node@5.2.0 from circleci/node@5.2.yml"
    assert lines["circleci/node@5.yml"].startswith("skipped circleci/node@5.yml: the registry already has 5.2.0")
    assert lines["circleci/node@volatile.yml"].startswith("skipped")
    assert lines["circleci/windows@dev:{pipeline.git.revision}.yml"].startswith("published circleci/windows@dev:local")
    assert lines["sonarsource/sonarcloud@dev:alpha.yml"].startswith("published sonarsource/sonarcloud@dev:alpha")

    listed = rondo(server, "orb", "list")
    assert listed.returncode == 0, listed.stderr
    node = next(line for line in listed.stdout.splitlines() if line.startswith("circleci/node "))
    assert "latest 7.2.1" in node and "2.0.0, 4.0.0, 4.7.0, 5.0.0, 5.0.2, 5.2.0, 7.1.0, 7.2.1" in node

    source = rondo(server, "orb", "source", "circleci/node@5")
    assert source.returncode == 0, source.stderr
    assert source.stdout == (ORBS / "circleci" / "node@5.2.yml").read_text()

    again = rondo(server, "orb", "import", str(ORBS))
    assert again.returncode == 0, again.stdout + again.stderr
    assert {line.split(" ")[0] for line in outcomes(again.stdout).values()} == {"skipped"}
    assert f"0 published, {len(files)} skipped, 0 failed" in again.stdout


def test_publish_a_file_and_what_fails(server: RondoServer, tmp_path: Path) -> None:
    orb = tmp_path / "acme" / "tools@1.0.0.yml"
    orb.parent.mkdir()
    orb.write_text("version: 2.1\ncommands:\n  hello:\n    steps:\n      - run: echo hello\n")
    published = rondo(server, "orb", "publish", str(orb), "acme/tools@1.0.0")
    assert published.returncode == 0, published.stderr
    assert published.stdout.startswith("published acme/tools@1.0.0 (sha256 ")

    again = rondo(server, "orb", "publish", str(orb), "acme/tools@1.0.0")
    assert again.returncode == 1 and "(409)" in again.stderr and "already published" in again.stderr

    (tmp_path / "acme" / "tools@1.0.0.yml").write_text("version: 2.1\njobs: {}\n")  # same release, new source
    (tmp_path / "acme" / "broken@1.0.0.yml").write_text("version: 2.1\nworkflows: {}\n")
    imported = rondo(server, "orb", "import", str(tmp_path))
    assert imported.returncode == 1
    lines = outcomes(imported.stdout)
    assert "different source" in lines["acme/tools@1.0.0.yml"]
    assert lines["acme/broken@1.0.0.yml"].startswith("failed") and "workflows" in lines["acme/broken@1.0.0.yml"]

    missing = rondo(server, "orb", "source", "acme/tools@2")
    assert missing.returncode == 1 and "Unknown version 2 for orb acme/tools" in missing.stderr


@pytest.mark.parametrize(
    ("spec", "existing", "expected"),
    [
        ("1.2.3", ["1.2.3"], "1.2.3"),
        ("4", [], "4.0.0"),
        ("4.7", ["4.0.0"], "4.7.0"),
        ("volatile", [], "0.0.0"),
        ("volatile", ["dev:x"], "0.0.0"),
        ("dev:{pipeline.git.revision}", [], "dev:local"),
        ("dev:alpha", [], "dev:alpha"),
    ],
)
def test_file_versions_map_to_published_versions(spec: str, existing: list[str], expected: str) -> None:
    assert target_version(spec, existing, "dev:local") == expected


@pytest.mark.parametrize(("spec", "existing"), [("4", ["4.1.0"]), ("4.1", ["4.1.2"]), ("volatile", ["0.1.0"])])
def test_a_range_the_registry_already_answers_is_skipped(spec: str, existing: list[str]) -> None:
    with pytest.raises(Skip):
        target_version(spec, existing, "dev:local")
