"""Refs of local repositories read from their files must say what `git ls-remote` says, or defer to it."""

from pathlib import Path

import pytest

from rondo.vcs import GitRepository, VcsError
from rondo.vcs.local_refs import Answer, git_dir, local_path, read_ref
from tests.conftest import commit_files, git, make_repo


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = make_repo(tmp_path / "src", {"README.md": "hello\n"})
    git(path, "checkout", "-q", "-b", "feature")
    commit_files(path, {"f.txt": "f\n"}, "feature work")
    git(path, "tag", "-a", "v1.0", "-m", "release")
    git(path, "tag", "light")
    git(path, "tag", "-a", "v1.0-signed-off", "-m", "a tag of a tag", "v1.0")
    git(path, "checkout", "-q", "main")
    git(path, "symbolic-ref", "refs/heads/alias", "refs/heads/feature")
    return path


async def _assert_same_as_ls_remote(path: Path, url: str, tmp_path: Path) -> dict[str, str]:
    refs = await GitRepository(url, tmp_path / "mirrors").list_refs()
    directory = git_dir(path)
    assert directory is not None
    assert {name: read_ref(directory, name) for name in refs} == refs
    return refs


async def test_loose_and_packed_refs_read_as_ls_remote_lists_them(repo: Path, tmp_path: Path) -> None:
    loose = await _assert_same_as_ls_remote(repo, str(repo), tmp_path)
    feature = git(repo, "rev-parse", "feature")
    assert loose["refs/tags/v1.0"] == loose["refs/tags/v1.0-signed-off"] == loose["refs/heads/alias"] == feature
    git(repo, "pack-refs", "--all")  # now in packed-refs, annotated tags with their peeled lines
    assert not (repo / ".git" / "refs" / "tags" / "v1.0").exists()
    assert await _assert_same_as_ls_remote(repo, str(repo), tmp_path) == loose
    # a branch moved after packing is loose again, and the loose file wins
    git(repo, "branch", "-f", "feature", "main")
    moved = await _assert_same_as_ls_remote(repo, str(repo), tmp_path)
    assert moved["refs/heads/feature"] == git(repo, "rev-parse", "main") != feature


async def test_bare_repositories_worktrees_and_file_urls(repo: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bare.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(bare))
    await _assert_same_as_ls_remote(bare, f"file://{bare}", tmp_path)
    worktree = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", str(worktree), "feature")
    assert git_dir(worktree) == repo / ".git"
    await _assert_same_as_ls_remote(worktree, str(worktree), tmp_path)
    assert local_path("https://example.com/x.git") is None and local_path("git@host:x.git") is None


async def test_resolve_reads_the_files_and_agrees_with_git(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = GitRepository(str(repo), tmp_path / "mirrors")
    expected = {ref: await r.resolve(ref) for ref in ("main", "feature", "v1.0", "light", "refs/heads/main")}

    async def no_git() -> dict[str, str]:
        raise AssertionError("ls-remote ran for a repository on disk")

    monkeypatch.setattr(r, "list_refs", no_git)
    git(repo, "pack-refs", "--all")
    assert {ref: await r.resolve(ref) for ref in expected} == expected
    for unknown in ("nope", "../../HEAD", "refs/heads/../HEAD", "main.lock", "HEAD"):
        with pytest.raises(VcsError, match="no branch or tag named"):
            await r.resolve(unknown)


async def test_what_the_files_cannot_tell_is_left_to_git(repo: Path, tmp_path: Path) -> None:
    directory = repo / ".git"
    git(repo, "gc", "-q")  # the tag objects go into a pack
    tag_object = git(repo, "rev-parse", "v1.0")
    git(repo, "update-ref", "refs/tags/loose-annotated", tag_object)  # a loose ref to a packed tag object
    assert read_ref(directory, "refs/tags/loose-annotated") is Answer.UNDECIDED
    r = GitRepository(str(repo), tmp_path / "mirrors")
    assert await r.resolve("loose-annotated") == git(repo, "rev-parse", "feature")  # through ls-remote
    git(repo, "config", "uploadpack.hideRefs", "refs/heads/feature")
    assert read_ref(directory, "refs/heads/main") is Answer.UNDECIDED
    with pytest.raises(VcsError, match="no branch or tag named 'feature'"):
        await r.resolve("feature")  # hidden from ls-remote, so not found, as before
    assert read_ref(directory, "refs/remotes/origin/main") is Answer.MISSING
