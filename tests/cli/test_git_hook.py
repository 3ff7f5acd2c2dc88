import os
from pathlib import Path

import pytest

from rondo.cli.git_hook import HOOKS, install
from tests.conftest import make_repo


def test_hook_is_installed_executable_and_names_the_server(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"a.txt": "a"})
    written = install(repo, "http://127.0.0.1:9999/")
    assert [p.name for p in written] == list(HOOKS)
    for path in written:
        assert os.access(path, os.X_OK)
        assert "http://127.0.0.1:9999/hooks/git" in path.read_text()
    install(repo, "http://127.0.0.1:9999")  # installing again replaces our own hooks


def test_a_foreign_hook_is_never_overwritten(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"a.txt": "a"})
    (repo / ".git" / "hooks" / "post-commit").write_text("#!/bin/sh\necho mine\n")
    with pytest.raises(ValueError, match="not written by Rondo"):
        install(repo, "http://127.0.0.1:9999")
    assert "echo mine" in (repo / ".git" / "hooks" / "post-commit").read_text()


def test_not_a_repository(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a git repository"):
        install(tmp_path, "http://127.0.0.1:9999")
