"""Plain git repositories (a path on the server or any git URL), read through a bare mirror per repository.

Every call runs the `git` binary without a shell, with a timeout, and never prompts for credentials. An
SSH URL is read with the identity given (a project's checkout key), else with the server user's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import tempfile
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from rondo.domain.ssh_keys import git_ssh_command, is_ssh_url
from rondo.vcs import local_refs
from rondo.vcs.errors import VcsError

K = TypeVar("K")
V = TypeVar("V")

GIT_TIMEOUT_S = 120.0
_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
_LOCKS: dict[Path, asyncio.Lock] = {}
_CACHED_COMMITS = 256  # per repository; a commit's info and files never change, so these never go stale
_CACHED_FILES = 64


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    subject: str
    body: str
    author_name: str
    author_email: str
    authored_at: datetime
    committer_name: str
    committer_email: str
    committed_at: datetime


def _check_arg(value: str, what: str) -> str:
    """Refuse values git could read as options or that are not plain ref/path text."""
    if not value or value.startswith("-") or "\x00" in value or "\n" in value:
        raise VcsError(f"invalid {what} {value!r}")
    return value


@dataclass(frozen=True)
class SshIdentity:
    """The key git uses over SSH (a project's checkout key), and where host keys seen are remembered."""

    private_key: str
    known_hosts: Path


@contextlib.contextmanager
def _ssh_command(identity: SshIdentity | None) -> Iterator[str]:
    """`GIT_SSH_COMMAND`: with an identity, that key alone, written to a private file for this call only."""
    if identity is None:
        yield "ssh -o BatchMode=yes"  # the server user's own ssh keys and settings
        return
    with tempfile.TemporaryDirectory(prefix="rondo-git-ssh-") as scratch:  # mode 0700
        key_file = os.path.join(scratch, "key")
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(identity.private_key)
        identity.known_hosts.parent.mkdir(parents=True, exist_ok=True)
        yield git_ssh_command(key_file, str(identity.known_hosts))


async def _git(
    *args: str, cwd: Path | None = None, limit_s: float = GIT_TIMEOUT_S, identity: SshIdentity | None = None
) -> tuple[int, bytes, str]:
    with _ssh_command(identity) as ssh_command:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/"),
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ASKPASS": "/bin/true",
            "SSH_ASKPASS": "/bin/true",
            "GIT_SSH_COMMAND": ssh_command,
            "LC_ALL": "C",
        }
        return await _run_git(args, cwd, env, limit_s)


async def _run_git(
    args: tuple[str, ...], cwd: Path | None, env: dict[str, str], limit_s: float
) -> tuple[int, bytes, str]:
    proc = await asyncio.create_subprocess_exec(
        "git", *args, cwd=cwd, env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that lands as git exits.
        async with asyncio.timeout(limit_s):
            out, err = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise VcsError(f"git {args[0]} took longer than {limit_s:.0f}s") from None
    except asyncio.CancelledError:
        if proc.returncode is None:
            proc.kill()
        raise
    return proc.returncode or 0, out, err.decode(errors="replace").strip()


class GitRepository:
    """One repository, by URL. Reads go through a bare mirror under `mirror_root`."""

    def __init__(self, url: str, mirror_root: Path) -> None:
        self.url = url
        # The key for an SSH URL (the project's checkout key); without one, the server user's own ssh setup.
        self.identity: SshIdentity | None = None
        digest = hashlib.sha256(url.encode()).hexdigest()[:32]
        self.mirror = mirror_root / f"{digest}.git"
        self._known: set[str] = set()  # commits seen in the mirror; commits never change, so no re-checks
        self._commits: OrderedDict[str, CommitInfo] = OrderedDict()
        self._files: OrderedDict[tuple[str, str], bytes | None] = OrderedDict()

    async def _run(self, *args: str, cwd: Path | None = None, remote: bool = False) -> bytes:
        identity = self.identity if remote and is_ssh_url(self.url) else None
        code, out, err = await _git(*args, cwd=cwd, identity=identity)
        if code != 0:
            raise VcsError(f"git {args[0]} failed for {self.url}: {err or f'exit code {code}'}")
        return out

    async def list_refs(self) -> dict[str, str]:
        """Branches (refs/heads/*) and tags (refs/tags/*, annotated tags peeled) -> commit sha."""
        out = await self._run("ls-remote", "--heads", "--tags", "--", self.url, remote=True)
        refs: dict[str, str] = {}
        peeled: dict[str, str] = {}
        for line in out.decode(errors="replace").splitlines():
            sha, _, ref = line.partition("\t")
            if ref.endswith("^{}"):
                peeled[ref[:-3]] = sha
            elif ref.startswith(("refs/heads/", "refs/tags/")):
                refs[ref] = sha
        refs.update({ref: sha for ref, sha in peeled.items() if ref in refs})
        return refs

    async def default_branch(self) -> str | None:
        out = await self._run("ls-remote", "--symref", "--", self.url, "HEAD", remote=True)
        for line in out.decode(errors="replace").splitlines():
            if line.startswith("ref: ") and line.endswith("\tHEAD"):
                ref = line[5:].split("\t", 1)[0]
                return ref.removeprefix("refs/heads/")
        return None

    async def fetch(self) -> None:
        """Bring the mirror up to date with every branch and tag of the repository."""
        lock = _LOCKS.setdefault(self.mirror, asyncio.Lock())
        async with lock:
            if not (self.mirror / "HEAD").exists():
                self.mirror.parent.mkdir(parents=True, exist_ok=True)
                await self._run("init", "--quiet", "--bare", str(self.mirror))
            await self._run(
                "fetch", "--quiet", "--prune", "--force", "--no-write-fetch-head", "--", self.url,
                "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*",
                cwd=self.mirror, remote=True,
            )  # fmt: skip

    async def _has(self, revision: str) -> bool:
        if revision in self._known:
            return True
        if not (self.mirror / "HEAD").exists():
            return False
        code, _, _ = await _git("cat-file", "-e", f"{revision}^{{commit}}", cwd=self.mirror)
        if code == 0 and _SHA.match(revision):
            if len(self._known) > 10_000:
                self._known.clear()
            self._known.add(revision)
        return code == 0

    async def _ensure(self, revision: str) -> None:
        _check_arg(revision, "revision")
        if not await self._has(revision):
            await self.fetch()
            if not await self._has(revision):
                raise VcsError(f"revision {revision} does not exist in {self.url}")

    async def resolve(self, ref: str) -> str:
        """A branch or tag name (or a sha) -> the commit sha it names now."""
        _check_arg(ref, "ref")
        if _SHA.match(ref):
            await self._ensure(ref)
            return ref
        local = self._resolve_on_disk(ref)
        if local is not None:
            return local
        refs = await self.list_refs()
        for candidate in (f"refs/heads/{ref}", f"refs/tags/{ref}", ref):
            if candidate in refs:
                return refs[candidate]
        raise VcsError(f"no branch or tag named {ref!r} in {self.url}")

    def _resolve_on_disk(self, ref: str) -> str | None:
        """For a repository on this machine, what `resolve` would answer, read from its ref files; None
        when only git can tell (see local_refs)."""
        path = local_refs.local_path(self.url)
        try:
            directory = local_refs.git_dir(path) if path is not None else None
        except OSError:
            return None
        if directory is None:
            return None
        for candidate in (f"refs/heads/{ref}", f"refs/tags/{ref}", ref):
            found = local_refs.read_ref(directory, candidate)
            if found is local_refs.Answer.UNDECIDED:
                return None
            if isinstance(found, str):
                return found
        raise VcsError(f"no branch or tag named {ref!r} in {self.url}")

    async def commit_and_file(self, revision: str, path: str) -> tuple[CommitInfo, bytes | None]:
        """A commit's info and one of its files (a pipeline's trigger needs both), read side by side."""
        await self._ensure(revision)
        info, data = await asyncio.gather(self.commit_info(revision), self.read_file(revision, path))
        return info, data

    async def read_file(self, revision: str, path: str) -> bytes | None:
        """The file's bytes at `revision`, or None when it does not exist there."""
        _check_arg(path, "path")
        key = (revision, path)
        if key in self._files:
            self._files.move_to_end(key)
            return self._files[key]
        await self._ensure(revision)
        code, out, _ = await _git("cat-file", "blob", f"{revision}:{path}", cwd=self.mirror)
        data = out if code == 0 else None
        if _SHA.match(revision):
            _remember(self._files, key, data, _CACHED_FILES)
        return data

    async def commit_info(self, revision: str) -> CommitInfo:
        if revision in self._commits:
            self._commits.move_to_end(revision)
            return self._commits[revision]
        await self._ensure(revision)
        fmt = "%H%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%s%x00%b"
        out = await self._run("show", "-s", f"--format={fmt}", revision, "--", cwd=self.mirror)
        parts = out.decode(errors="replace").split("\x00")
        if len(parts) < 9:
            raise VcsError(f"cannot read commit {revision} of {self.url}")
        sha, an, ae, ad, cn, ce, cd, subject, body = parts[:9]
        info = CommitInfo(
            sha=sha,
            subject=subject,
            body=body.strip(),
            author_name=an,
            author_email=ae,
            authored_at=datetime.fromisoformat(ad),
            committer_name=cn,
            committer_email=ce,
            committed_at=datetime.fromisoformat(cd),
        )
        if _SHA.match(revision):
            _remember(self._commits, revision, info, _CACHED_COMMITS)
        return info


def _remember(cache: OrderedDict[K, V], key: K, value: V, limit: int) -> None:
    cache[key] = value
    if len(cache) > limit:
        cache.popitem(last=False)
