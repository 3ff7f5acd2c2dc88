"""GitRepository against real repositories made by the test."""

from pathlib import Path

import pytest

from rondo.secrets.ssh_keys import generate_ed25519
from rondo.vcs import GitRepository, SshIdentity, VcsError
from tests.conftest import commit_files, git, make_repo
from tests.sshd import SshServer


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = make_repo(tmp_path / "src", {"README.md": "hello\n", ".circleci/config.yml": "version: 2.1\n"})
    git(path, "checkout", "-q", "-b", "feature")
    commit_files(path, {"only-on-feature.txt": "f\n"}, "feature work\n\nwith a body")
    git(path, "tag", "-a", "v1.0", "-m", "release")
    git(path, "checkout", "-q", "main")
    return path


async def test_refs_default_branch_and_peeled_tags(repo: Path, tmp_path: Path) -> None:
    r = GitRepository(str(repo), tmp_path / "mirrors")
    refs = await r.list_refs()
    feature = git(repo, "rev-parse", "feature")
    assert refs == {
        "refs/heads/main": git(repo, "rev-parse", "main"),
        "refs/heads/feature": feature,
        "refs/tags/v1.0": feature,  # the annotated tag, peeled to its commit
    }
    assert await r.default_branch() == "main"
    assert await r.resolve("feature") == feature
    assert await r.resolve("v1.0") == feature


async def test_read_files_at_revisions(repo: Path, tmp_path: Path) -> None:
    r = GitRepository(str(repo), tmp_path / "mirrors")
    main, feature = git(repo, "rev-parse", "main"), git(repo, "rev-parse", "feature")
    assert await r.read_file(main, ".circleci/config.yml") == b"version: 2.1\n"
    assert await r.read_file(main, "only-on-feature.txt") is None
    assert await r.read_file(feature, "only-on-feature.txt") == b"f\n"
    info = await r.commit_info(feature)
    assert (info.sha, info.subject, info.body, info.author_name) == (
        feature,
        "feature work",
        "with a body",
        "Rondo Test",
    )
    assert (info.author_email, info.committer_name, info.committer_email) == (
        "test@rondo.invalid",
        "Rondo Test",
        "test@rondo.invalid",
    )
    # a commit made after the mirror was created is fetched on demand
    new = commit_files(repo, {"later.txt": "l\n"}, "later")
    assert await r.read_file(new, "later.txt") == b"l\n"


async def test_commit_and_file_together_and_again_from_memory(repo: Path, tmp_path: Path) -> None:
    r = GitRepository(str(repo), tmp_path / "mirrors")
    feature = git(repo, "rev-parse", "feature")
    info, data = await r.commit_and_file(feature, "only-on-feature.txt")
    assert (info.sha, info.subject, data) == (feature, "feature work", b"f\n")
    assert (await r.commit_and_file(feature, "nope.txt"))[1] is None
    # A commit's contents never change: asked again, the answers come without the mirror.
    for child in (tmp_path / "mirrors").iterdir():
        (child / "objects").rename(child / "objects-moved")  # the mirror has lost every object
    assert await r.commit_and_file(feature, "only-on-feature.txt") == (info, b"f\n")
    assert await r.read_file(feature, "nope.txt") is None
    assert await r.read_file(feature, "README.md") is None  # not read before: git finds nothing now


async def test_bare_repository_over_file_url(repo: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bare.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(bare))
    r = GitRepository(f"file://{bare}", tmp_path / "mirrors")
    assert "refs/heads/main" in await r.list_refs()


async def test_missing_repository_and_revision_say_what_failed(tmp_path: Path, repo: Path) -> None:
    with pytest.raises(VcsError, match="ls-remote failed for /nonexistent"):
        await GitRepository("/nonexistent/repo", tmp_path / "m").list_refs()
    r = GitRepository(str(repo), tmp_path / "mirrors")
    with pytest.raises(VcsError, match="does not exist"):
        await r.read_file("0" * 40, "README.md")
    with pytest.raises(VcsError, match="no branch or tag named 'nope'"):
        await r.resolve("nope")


@pytest.mark.parametrize("bad", ["--upload-pack=touch /tmp/pwned", "-x", "a\nb"])
async def test_option_like_revisions_are_refused(repo: Path, tmp_path: Path, bad: str) -> None:
    r = GitRepository(str(repo), tmp_path / "mirrors")
    with pytest.raises(VcsError, match="invalid"):
        await r.read_file(bad, "README.md")
    with pytest.raises(VcsError, match="invalid"):
        await r.resolve(bad)


async def test_an_ssh_repository_is_read_with_the_identity_given(repo: Path, tmp_path: Path, sshd: SshServer) -> None:
    bare = tmp_path / "served.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(bare))
    deploy = generate_ed25519()
    r = GitRepository(sshd.url(bare), tmp_path / "mirrors")
    known_hosts = tmp_path / "mirrors" / "known_hosts"
    r.identity = SshIdentity(deploy.private_key, known_hosts)
    with pytest.raises(VcsError, match=r"Permission denied \(publickey\)"):
        await r.list_refs()
    sshd.authorize(deploy.public_key)
    assert (await r.list_refs())["refs/heads/main"] == git(repo, "rev-parse", "main")
    assert await r.read_file(git(repo, "rev-parse", "main"), ".circleci/config.yml") == b"version: 2.1\n"
    assert f"[127.0.0.1]:{sshd.port}" in known_hosts.read_text()  # the host, remembered on first use
