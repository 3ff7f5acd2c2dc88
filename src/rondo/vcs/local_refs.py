"""Branches and tags of a repository on this machine's disk, read from its ref files without running git.

A pipeline triggered on a branch of a local repository needs the branch's commit; `git ls-remote` costs
two processes (ls-remote and upload-pack) for what a loose ref file or a `packed-refs` line says. The
answer must equal ls-remote's, so whatever this reader cannot decide for certain (reftable storage,
hidden refs, a tag object stored in a pack, a malformed file) is `UNDECIDED`, and the caller asks git.
"""

from __future__ import annotations

import os
import re
import zlib
from enum import Enum
from pathlib import Path
from urllib.parse import unquote, urlsplit


class Answer(Enum):
    MISSING = "missing"  # the repository has no such ref (ls-remote would not list it)
    UNDECIDED = "undecided"  # ask git


_SHA1 = re.compile(r"^[0-9a-f]{40}$")
_BAD_REF = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//|/\.|\.lock(/|$)")
_MAX_SYMREF_DEPTH = 5
# Git configuration that changes what upload-pack advertises, or how refs are stored: then git decides.
_UNSUPPORTED_CONFIG = re.compile(rb"hiderefs|refstorage|\[include|\[includeif", re.IGNORECASE)


def local_path(url: str) -> Path | None:
    """The directory an absolute path or a file:// URL names; None for every other kind of URL."""
    if url.startswith("file://"):
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            return None
        return Path(unquote(parts.path))
    return Path(url) if url.startswith("/") else None


def git_dir(worktree_or_bare: Path) -> Path | None:
    """Where the repository's refs live: a bare repository, `<dir>/.git`, or a linked worktree's common dir."""
    dot_git = worktree_or_bare / ".git"
    if dot_git.is_file():  # a linked worktree or a submodule: "gitdir: <path>"
        text = dot_git.read_text(errors="replace").strip()
        if not text.startswith("gitdir: "):
            return None
        candidate = Path(text[len("gitdir: ") :])
        candidate = candidate if candidate.is_absolute() else worktree_or_bare / candidate
    elif dot_git.is_dir():
        candidate = dot_git
    else:
        candidate = worktree_or_bare
    common = candidate / "commondir"
    if common.is_file():
        shared = Path(common.read_text(errors="replace").strip())
        candidate = (shared if shared.is_absolute() else candidate / shared).resolve()
    if not ((candidate / "HEAD").is_file() and (candidate / "objects").is_dir() and (candidate / "refs").is_dir()):
        return None
    return candidate


def valid_ref_name(name: str) -> bool:
    """What `git check-ref-format` accepts for a full ref name (refs/...): anything else names no ref."""
    return (
        name.startswith("refs/")
        and not name.endswith(("/", "."))
        and not _BAD_REF.search(name)
        and all(part and not part.startswith(".") for part in name.split("/"))
    )


def _config_allows(directory: Path) -> bool:
    homes = [Path(os.environ["HOME"]) / ".gitconfig"] if os.environ.get("HOME") else []
    xdg = os.environ.get("XDG_CONFIG_HOME") or (os.environ.get("HOME", "") + "/.config")
    for path in (directory / "config", *homes, Path(xdg) / "git" / "config", Path("/etc/gitconfig")):
        try:
            if _UNSUPPORTED_CONFIG.search(path.read_bytes()):
                return False
        except OSError:
            continue
    return not (directory / "reftable").exists()


def _packed(directory: Path) -> tuple[dict[str, str], dict[str, str], set[str]] | None:
    """packed-refs: ref -> sha, ref -> peeled sha (annotated tags), and the file's traits."""
    try:
        lines = (directory / "packed-refs").read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return {}, {}, set()
    except OSError:
        return None
    refs: dict[str, str] = {}
    peeled: dict[str, str] = {}
    traits: set[str] = set()
    last = ""
    for line in lines:
        if line.startswith("# pack-refs with:"):
            traits = set(line.split(":", 1)[1].split())
        elif line.startswith("^"):
            if not last or not _SHA1.match(line[1:]):
                return None
            peeled[last] = line[1:]
        elif line:
            sha, _, name = line.partition(" ")
            if not _SHA1.match(sha) or not name:
                return None
            refs[name] = sha
            last = name
    return refs, peeled, traits


def _object_type(directory: Path, sha: str) -> str | None:
    """The type of a loose object (its zlib header), or None when it is packed or unreadable."""
    try:
        with (directory / "objects" / sha[:2] / sha[2:]).open("rb") as f:
            head = zlib.decompressobj().decompress(f.read(64), 32)
    except (OSError, zlib.error):
        return None
    kind = head.split(b" ", 1)[0]
    return kind.decode() if kind in (b"commit", b"tag", b"tree", b"blob") else None


def _tag_target(directory: Path, sha: str) -> str | None:
    """The object a loose annotated tag points at (its `object` line)."""
    try:
        with (directory / "objects" / sha[:2] / sha[2:]).open("rb") as f:
            body = zlib.decompress(f.read())
    except (OSError, zlib.error):
        return None
    header, _, rest = body.partition(b"\x00")
    first = rest.split(b"\n", 1)[0]
    if not header.startswith(b"tag ") or not first.startswith(b"object "):
        return None
    target = first[len(b"object ") :].decode(errors="replace")
    return target if _SHA1.match(target) else None


def _peel(directory: Path, sha: str) -> str | None:
    """A loose ref's target as ls-remote shows it: annotated tags (even nested) peeled to what they tag."""
    for _ in range(_MAX_SYMREF_DEPTH):
        kind = _object_type(directory, sha)
        if kind is None:
            return None
        if kind != "tag":
            return sha
        target = _tag_target(directory, sha)
        if target is None:
            return None
        sha = target
    return None


def read_ref(directory: Path, name: str, _depth: int = 0) -> str | Answer:
    """The commit a branch or tag (a full name, refs/heads/... or refs/tags/...) names, as ls-remote says."""
    if not name.startswith(("refs/heads/", "refs/tags/")) or not valid_ref_name(name):
        return Answer.MISSING  # ls-remote --heads --tags lists nothing else
    if _depth == 0 and not _config_allows(directory):
        return Answer.UNDECIDED
    try:
        text = (directory / name).read_text(errors="replace").strip()
    except (FileNotFoundError, NotADirectoryError):
        text = None
    except OSError:  # a directory of refs (refs/heads/team when team/x exists), or unreadable
        return Answer.MISSING if (directory / name).is_dir() else Answer.UNDECIDED
    if text is not None:
        if text.startswith("ref: "):
            if _depth >= _MAX_SYMREF_DEPTH:
                return Answer.UNDECIDED
            target = text[len("ref: ") :]
            if not target.startswith(("refs/heads/", "refs/tags/")):
                return Answer.UNDECIDED
            # A symbolic ref is listed with what its target names; a dangling one is not listed.
            return read_ref(directory, target, _depth + 1)
        if not _SHA1.match(text):
            return Answer.UNDECIDED
        # Branches hold commits (git refuses anything else); a tag may hold a tag object, peeled here.
        return text if name.startswith("refs/heads/") else (_peel(directory, text) or Answer.UNDECIDED)
    packed = _packed(directory)
    if packed is None:
        return Answer.UNDECIDED
    refs, peeled, traits = packed
    if name not in refs:
        return Answer.MISSING
    if name in peeled:
        return peeled[name]
    if name.startswith("refs/heads/") or traits & {"peeled", "fully-peeled"}:
        # With either trait every refs/tags/ entry that is a tag object has its ^ line: this one is not.
        return refs[name]
    return Answer.UNDECIDED
