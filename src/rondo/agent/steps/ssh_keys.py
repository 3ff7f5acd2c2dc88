"""SSH keys in a job, the same for every executor: the checkout key for `checkout` and `~/.ssh`, and `add_ssh_keys`.

`checkout` over an SSH URL runs git with the project's checkout key alone (a 0600 file in a private
scratch directory, deleted after) and a known_hosts file that accepts a new host and refuses a changed
one. Afterwards, as on CircleCI, the job's `~/.ssh` holds the key as `id_rsa` and the host seen, so
later `git` and `ssh` commands work. `add_ssh_keys` writes the project's additional keys as
`~/.ssh/id_rsa_<fingerprint>` with a `Host` block each in `~/.ssh/config`, ahead of anything else
there (ssh takes the first value it finds), while a last `Host *` block names the checkout key and
the job's `~/.ssh/known_hosts` (a machine job's ~ is not the home ssh would read by itself).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rondo.agent.steps.job_files import JobFiles
from rondo.agent.steps.storage import Output, StepFailed
from rondo.domain.agent_protocol import BuiltinStepSpec, SshKeySpec
from rondo.domain.ssh_keys import git_ssh_command, is_ssh_url, key_file_name, normalize_fingerprint
from rondo.domain.status import StepStatus

ADDED = ("# >>> keys added by add_ssh_keys (Rondo)", "# <<< keys added by add_ssh_keys")
DEFAULTS = ("# >>> the checkout key and this job's known hosts (Rondo)", "# <<< the checkout key and known hosts")
MAX_SSH_FILE = 1024 * 1024


@dataclass(frozen=True)
class CheckoutSsh:
    """What git needs to clone with the checkout key, and the host keys it saw."""

    env: dict[str, str]
    known_hosts: Path
    key: SshKeySpec

    def seen_hosts(self) -> bytes:
        return self.known_hosts.read_bytes() if self.known_hosts.exists() else b""


@contextlib.contextmanager
def checkout_ssh(
    key: SshKeySpec | None, url: str, scratch: Path | None = None, known_hosts: str = ""
) -> Iterator[CheckoutSsh | None]:
    """The checkout key in a private scratch directory for one checkout (None: not SSH, or no key), with
    the host keys the server has seen for the host (`known_hosts`): a changed one is refused."""
    if key is None or not is_ssh_url(url):
        yield None
        return
    directory = Path(tempfile.mkdtemp(prefix="rondo-ssh-", dir=scratch))  # mode 0700
    try:
        identity = directory / "checkout_key"
        fd = os.open(identity, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(key.private_key)
        known = directory / "known_hosts"
        known.write_text(known_hosts)
        env = {"GIT_SSH_COMMAND": git_ssh_command(str(identity), str(known))}
        yield CheckoutSsh(env, known, key)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


async def _read(files: JobFiles, path: str) -> str:
    try:
        return (await files.read_file(path, MAX_SSH_FILE)).decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def _cut(text: str, marks: tuple[str, str]) -> tuple[str, str]:
    """(the text without the marked section, the section's inside)."""
    lines = text.splitlines()
    if marks[0] not in lines or marks[1] not in lines:
        return text, ""
    start, end = lines.index(marks[0]), lines.index(marks[1])
    if end < start:
        return text, ""
    inside = "\n".join(lines[start + 1 : end])
    rest = lines[:start] + lines[end + 1 :]
    return "\n".join(rest) + ("\n" if rest else ""), inside


def _hosts_of(section: str) -> dict[str, list[str]]:
    """Our own `Host` blocks back as host pattern -> identity files."""
    hosts: dict[str, list[str]] = {}
    current = None
    for line in section.splitlines():
        words = line.split(None, 1)
        if len(words) == 2 and words[0] == "Host":
            current = hosts.setdefault(words[1], [])
        elif len(words) == 2 and words[0] == "IdentityFile" and current is not None:
            current.append(words[1])
    return hosts


def _quote(path: str) -> str:
    return f'"{path}"' if " " in path else path


@dataclass
class SshConfig:
    """A job's `~/.ssh/config`: our two sections around whatever else is in it."""

    added: dict[str, list[str]] = field(default_factory=dict)  # host pattern -> identity files
    middle: str = ""
    identity_file: str | None = None  # the checkout key
    known_hosts: str | None = None  # the job's known_hosts (ssh would read the user's real home's)

    @classmethod
    def parse(cls, text: str) -> SshConfig:
        rest, added = _cut(text, ADDED)
        middle, tail = _cut(rest, DEFAULTS)
        config = cls(_hosts_of(added), middle.strip("\n"))
        for line in tail.splitlines():
            words = line.split(None, 1)
            if len(words) == 2 and words[0] == "IdentityFile":
                config.identity_file = words[1]
            elif len(words) == 2 and words[0] == "UserKnownHostsFile":
                config.known_hosts = words[1]
        return config

    def add(self, host: str, identity_file: str) -> None:
        files = self.added.setdefault(host, [])
        if identity_file not in files:
            files.append(identity_file)

    def render(self) -> str:
        parts = []
        if self.added:
            blocks = [
                f"Host {h}\n" + "".join(f"  IdentityFile {f}\n" for f in files) for h, files in self.added.items()
            ]
            parts.append(f"{ADDED[0]}\n{''.join(blocks)}{ADDED[1]}\n")
        if self.middle:
            parts.append(self.middle + "\n")
        tail = [f"  IdentityFile {self.identity_file}\n"] if self.identity_file else []
        tail += [f"  UserKnownHostsFile {self.known_hosts}\n"] if self.known_hosts else []
        if tail:
            parts.append(f"{DEFAULTS[0]}\nHost *\n{''.join(tail)}{DEFAULTS[1]}\n")
        return "".join(parts)


async def install_checkout_key(files: JobFiles, ssh: CheckoutSsh) -> None:
    """After a checkout over SSH: the key as `~/.ssh/id_rsa`, the host in `~/.ssh/known_hosts`."""
    directory = files.expand("~/.ssh")
    identity, known = f"{directory}/id_rsa", f"{directory}/known_hosts"
    await files.write_file(identity, ssh.key.private_key.encode(), 0o600)
    seen = ssh.seen_hosts().decode("utf-8", errors="replace").splitlines()
    if seen:
        present = await _read(files, known)
        new = [line for line in seen if line and line not in present.splitlines()]
        if new:
            text = present + ("" if not present or present.endswith("\n") else "\n") + "\n".join(new) + "\n"
            await files.write_file(known, text.encode(), 0o644)
    config = SshConfig.parse(await _read(files, f"{directory}/config"))
    config.identity_file, config.known_hosts = _quote(identity), _quote(known)
    await files.write_file(f"{directory}/config", config.render().encode(), 0o600)


def _wanted(step: BuiltinStepSpec) -> list[str] | None:
    raw = step.options.get("fingerprints")
    if raw is None:
        return None
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list) and all(isinstance(f, str | int | float) for f in raw):
        return [str(f) for f in raw]
    raise StepFailed("`fingerprints` must be a list of SSH key fingerprints")


def choose_keys(step: BuiltinStepSpec, keys: list[SshKeySpec]) -> list[SshKeySpec]:
    """The keys the step names by fingerprint (MD5 or SHA256), or all of them when it names none."""
    wanted = _wanted(step)
    if wanted is None:
        return list(keys)
    chosen: list[SshKeySpec] = []
    for text in wanted:
        fingerprint = normalize_fingerprint(text)
        if fingerprint is None:
            raise StepFailed(f"{text!r} is not an SSH key fingerprint: use MD5 (aa:bb:…) or SHA256:…")
        found = [k for k in keys if fingerprint in (k.fingerprint, k.sha256_fingerprint)]
        if not found:
            raise StepFailed(
                f"No additional SSH key of this project has the fingerprint {text}: add it in the project's "
                "settings (or POST /api/v1.1/project/<slug>/ssh-key), or fix the fingerprint."
            )
        chosen += [k for k in found if k not in chosen]
    return chosen


async def add_ssh_keys(step: BuiltinStepSpec, keys: list[SshKeySpec], files: JobFiles, out: Output) -> StepStatus:
    """Write the chosen keys to `~/.ssh` (0600) and their `Host` blocks to `~/.ssh/config`."""
    chosen = choose_keys(step, keys)
    if not chosen:
        out(b"This project has no additional SSH keys; nothing to add.\n")
        return StepStatus.SUCCESS
    directory = files.expand("~/.ssh")
    config = SshConfig.parse(await _read(files, f"{directory}/config"))
    written: set[str] = set()
    for key in chosen:
        identity = f"{directory}/{key_file_name(key.fingerprint)}"
        if identity not in written:
            await files.write_file(identity, key.private_key.encode(), 0o600)
            written.add(identity)
        config.add(key.hostname or "*", _quote(identity))
        config.known_hosts = config.known_hosts or _quote(f"{directory}/known_hosts")
        host = key.hostname or "every host"
        out(f"Added SSH key {key.fingerprint} ({key.sha256_fingerprint}) for {host}: {identity}\n".encode())
    await files.write_file(f"{directory}/config", config.render().encode(), 0o600)
    return StepStatus.SUCCESS
