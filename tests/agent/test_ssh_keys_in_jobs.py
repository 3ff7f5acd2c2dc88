"""SSH keys in real jobs against a real sshd on loopback: `checkout` over SSH with the checkout key,
`~/.ssh` afterwards, `add_ssh_keys` with fingerprints, on the machine and docker executors.

The task specs carry keys as the server hands them out at claim time; the reporter masks them as the
agent does. Keys are made by `ssh-keygen`, as people make the ones they add.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path
from typing import Any

from rondo.agent.executors.base import Executor
from rondo.agent.executors.docker import DockerExecutor, DockerSettings
from rondo.agent.executors.machine import MachineExecutor
from rondo.agent.reporter import EventReporter
from rondo.agent.runner import run_task
from rondo.domain.agent_protocol import StepFinished, StepOutput, TaskSpec
from rondo.domain.ssh_keys import secret_fragments
from rondo.domain.status import JobStatus, StepStatus
from rondo.secrets.ssh_keys import SshKeyPair, read_private_key
from tests.agent.test_runner import RecordingSink
from tests.conftest import git, make_repo
from tests.plaintext import private_key_parts
from tests.sshd import SshServer

IMAGE = "rondo/base:bookworm"


def keygen(path: Path, kind: str = "ed25519", *extra: str) -> SshKeyPair:
    subprocess.run(["ssh-keygen", "-q", "-t", kind, *extra, "-N", "", "-C", "", "-f", str(path)], check=True)
    return read_private_key(path.read_text())


def key_spec(pair: SshKeyPair, hostname: str = "") -> dict[str, str]:
    return {
        "private_key": pair.private_key,
        "fingerprint": pair.fingerprint,
        "sha256_fingerprint": pair.sha256_fingerprint,
        "hostname": hostname,
    }


def bare_repo(tmp_path: Path) -> tuple[Path, str]:
    work = make_repo(tmp_path / "work", {"README.md": "# app\n"})
    bare = tmp_path / "git" / "app.git"
    bare.parent.mkdir()
    git(tmp_path, "clone", "-q", "--bare", str(work), str(bare))
    return bare, git(work, "rev-parse", "HEAD")


def spec(
    steps: list[dict[str, Any]],
    *,
    url: str,
    revision: str,
    checkout_key: SshKeyPair | None = None,
    ssh_keys: list[dict[str, str]] = (),  # type: ignore[assignment]
    docker: bool = False,
    known_hosts: str = "",
) -> TaskSpec:
    secrets = [f for pair in [checkout_key] if pair for f in secret_fragments(pair.private_key)]
    secrets += [f for k in ssh_keys for f in secret_fragments(k["private_key"])]
    executor: dict[str, Any] = {"type": "machine"}
    if docker:
        executor = {"type": "docker", "resource_class": "small", "docker": [{"image": IMAGE}]}
    return TaskSpec.model_validate(
        {
            "id": f"task-{os.urandom(4).hex()}",
            "job_id": "job-1",
            "job_name": "build",
            "job_number": 1,
            "project_slug": "gh/acme/app",
            "executor": executor,
            "steps": steps,
            "checkout": {"repository_url": url, "revision": revision, "branch": "main", "known_hosts": known_hosts},
            "checkout_key": key_spec(checkout_key) if checkout_key else None,
            "ssh_keys": list(ssh_keys),
            "secret_values": secrets,
        }
    )


def run(command: str, name: str | None = None) -> dict[str, Any]:
    return {"type": "run", "name": name or command, "command": command}


CHECKOUT = {"type": "checkout"}


def add_ssh_keys(*fingerprints: str) -> dict[str, Any]:
    options = {"fingerprints": list(fingerprints)} if fingerprints else {}
    return {"type": "builtin", "step": "add_ssh_keys", "name": "Add SSH Keys", "options": options}


def accepted(sshd: SshServer, pair: SshKeyPair) -> bool:
    """Whether sshd let someone in with this key."""
    return pair.sha256_fingerprint in "".join(
        line for line in sshd.log.read_text().splitlines() if line.startswith("Accepted publickey")
    )


async def execute(task: TaskSpec, executor: Executor) -> tuple[JobStatus, dict[int, str], dict[int, StepStatus]]:
    sink = RecordingSink()
    cancel = asyncio.Event()
    async with EventReporter(sink, task.id, "agent-1", cancel, task.secret_values) as reporter:
        status = await run_task(task, executor, reporter, cancel)
    out: dict[int, str] = {}
    for event in sink.events:
        if isinstance(event, StepOutput):
            out[event.step] = out.get(event.step, "") + event.data
    steps = {e.step: e.status for e in sink.events if isinstance(e, StepFinished)}
    return status, out, steps


def assert_never_shown(pair: SshKeyPair, out: dict[int, str]) -> None:
    text = "".join(out.values())
    for fragment in private_key_parts(pair.private_key):
        assert fragment not in text


async def test_checkout_over_ssh_uses_the_checkout_key_and_leaves_it_in_dot_ssh(
    sshd: SshServer, tmp_path: Path
) -> None:
    bare, sha = bare_repo(tmp_path)
    deploy = keygen(tmp_path / "deploy")
    sshd.authorize(deploy.public_key)
    task = spec(
        [
            CHECKOUT,
            run("git log -1 --format='log: %s' && git fetch origin && echo fetched", "git"),
            run(f"ssh -p {sshd.port} {sshd.user}@127.0.0.1 'echo hello from sshd'", "ssh"),
            run("stat -c '%a %n' ~/.ssh ~/.ssh/id_rsa && cat ~/.ssh/id_rsa && head -3 ~/.ssh/id_rsa", "files"),
        ],
        url=sshd.url(bare),
        revision=sha,
        checkout_key=deploy,
    )
    work = tmp_path / "agent"
    status, out, _ = await execute(task, MachineExecutor(work))
    assert status == JobStatus.SUCCESS, out
    assert f"Using the project's checkout key {deploy.sha256_fingerprint}" in out[0]
    assert "HEAD is now at" in out[0] and sha[:7] in out[0]
    assert "log: initial commit" in out[1] and "fetched" in out[1]
    assert "hello from sshd" in out[2] and accepted(sshd, deploy)
    assert "700 " in out[3] and "600 " in out[3] and "********" in out[3]
    assert_never_shown(deploy, out)
    # Nothing of the job is left on the agent: its scratch key and home went with it.
    assert not list(work.rglob("*checkout_key*")) and not list(work.rglob("id_rsa"))


async def test_an_unauthorized_checkout_key_fails_the_checkout_with_ssh_s_message(
    sshd: SshServer, tmp_path: Path
) -> None:
    bare, sha = bare_repo(tmp_path)
    deploy = keygen(tmp_path / "deploy")  # never authorized
    task = spec([CHECKOUT, run("echo never")], url=sshd.url(bare), revision=sha, checkout_key=deploy)
    status, out, steps = await execute(task, MachineExecutor(tmp_path / "agent"))
    assert status == JobStatus.FAILED and steps == {0: StepStatus.FAILED}
    assert "Permission denied (publickey)" in out[0]
    assert "Could not read from remote repository" in out[0]


async def test_the_checkout_trusts_the_host_keys_the_server_has_seen_and_refuses_others(
    sshd: SshServer, tmp_path: Path
) -> None:
    bare, sha = bare_repo(tmp_path)
    deploy = keygen(tmp_path / "deploy")
    sshd.authorize(deploy.public_key)
    known = sshd.known_hosts_line()
    task = spec([CHECKOUT, run("cat ~/.ssh/known_hosts")], url=sshd.url(bare), revision=sha, checkout_key=deploy,
                known_hosts=known)  # fmt: skip
    status, out, _ = await execute(task, MachineExecutor(tmp_path / "a1"))
    assert status == JobStatus.SUCCESS, out
    assert "Permanently added" not in out[0] and out[1] == known
    impostor = keygen(tmp_path / "impostor")  # another host key for the same host and port
    wrong = f"[127.0.0.1]:{sshd.port} {impostor.public_key}\n"
    task = spec([CHECKOUT], url=sshd.url(bare), revision=sha, checkout_key=deploy, known_hosts=wrong)
    status, out, _ = await execute(task, MachineExecutor(tmp_path / "a2"))
    assert status == JobStatus.FAILED
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in out[0] and "Host key verification failed" in out[0]


ALIAS_CONFIG = """\
mkdir -p ~/.ssh && chmod 700 ~/.ssh
cat >> ~/.ssh/config <<EOF
Host sshd-alias
  HostName 127.0.0.1
  Port {port}
  User {user}
  IdentitiesOnly yes
EOF
ssh-keyscan -p {port} 127.0.0.1 >> ~/.ssh/known_hosts 2>/dev/null
"""


async def test_add_ssh_keys_writes_the_chosen_keys_and_a_host_block(sshd: SshServer, tmp_path: Path) -> None:
    bare, sha = bare_repo(tmp_path)
    rsa = keygen(tmp_path / "rsa", "rsa", "-b", "2048", "-m", "PEM")  # authorized, for the alias
    other = keygen(tmp_path / "other")  # a key of the project for another host, not asked for
    sshd.authorize(rsa.public_key)
    keys = [key_spec(rsa, "sshd-alias"), key_spec(other, "elsewhere.example")]
    task = spec(
        [
            run(ALIAS_CONFIG.format(port=sshd.port, user=sshd.user), "Configure the alias"),
            add_ssh_keys(rsa.sha256_fingerprint),
            run("ssh sshd-alias 'echo via the alias'", "ssh"),
            run("ls ~/.ssh && cat ~/.ssh/config", "files"),
        ],
        url=sshd.url(bare),
        revision=sha,
        ssh_keys=keys,
    )
    status, out, _ = await execute(task, MachineExecutor(tmp_path / "agent"))
    assert status == JobStatus.SUCCESS, out
    assert f"Added SSH key {rsa.fingerprint}" in out[1] and "sshd-alias" in out[1]
    assert "via the alias" in out[2] and accepted(sshd, rsa)
    files = out[3]
    mine = "id_rsa_" + rsa.fingerprint.replace(":", "")
    assert mine in files and "id_rsa_" + other.fingerprint.replace(":", "") not in files
    # Our Host block comes first, the job's own config after it.
    assert files.index("Host sshd-alias\n  IdentityFile") < files.index("HostName 127.0.0.1")
    assert_never_shown(rsa, out)


async def test_add_ssh_keys_fails_on_an_unknown_fingerprint_and_takes_all_keys_without_any(
    sshd: SshServer, tmp_path: Path
) -> None:
    bare, sha = bare_repo(tmp_path)
    ecdsa = keygen(tmp_path / "ecdsa", "ecdsa")
    unknown = "b7:35:a6:4e:9b:0d:6d:d4:78:1e:9a:97:2a:66:6b:62"
    failing = spec(
        [add_ssh_keys(ecdsa.fingerprint, unknown)],
        url=sshd.url(bare),
        revision=sha,
        ssh_keys=[key_spec(ecdsa)],
    )
    status, out, _ = await execute(failing, MachineExecutor(tmp_path / "a1"))
    assert status == JobStatus.FAILED and unknown in out[0]
    every = spec(
        [add_ssh_keys(), run("cat ~/.ssh/config")], url=sshd.url(bare), revision=sha, ssh_keys=[key_spec(ecdsa)]
    )
    status, out, _ = await execute(every, MachineExecutor(tmp_path / "a2"))
    assert status == JobStatus.SUCCESS, out
    assert "Host *\n  IdentityFile" in out[1] and "for every host" in out[0]


async def test_docker_jobs_check_out_over_ssh_and_add_ssh_keys(sshd: SshServer, tmp_path: Path) -> None:
    bare, sha = bare_repo(tmp_path)
    deploy = keygen(tmp_path / "deploy")
    extra = keygen(tmp_path / "extra", "rsa", "-b", "2048")
    sshd.authorize(deploy.public_key)
    sshd.authorize(extra.public_key)
    task = spec(
        [
            CHECKOUT,
            run(
                "git log -1 --format='log: %s' && git fetch origin && "
                f"ssh -p {sshd.port} {sshd.user}@127.0.0.1 'echo hello from sshd'",
                "git and ssh",
            ),
            run(ALIAS_CONFIG.format(port=sshd.port, user=sshd.user), "Configure the alias"),
            add_ssh_keys(extra.fingerprint),
            run("ssh sshd-alias 'echo via the alias' && stat -c '%a %U %n' ~/.ssh/id_rsa*", "alias"),
        ],
        url=sshd.url(bare),
        revision=sha,
        checkout_key=deploy,
        ssh_keys=[key_spec(extra, "sshd-alias")],
        docker=True,
    )
    # The container shares the agent's network, so 127.0.0.1 is the sshd's loopback.
    executor = DockerExecutor(DockerSettings(network="host"))
    status, out, _ = await execute(task, executor)
    assert status == JobStatus.SUCCESS, out
    assert "log: initial commit" in out[1] and "hello from sshd" in out[1]
    assert "via the alias" in out[4] and "600 root /root/.ssh/id_rsa" in out[4]
    assert accepted(sshd, deploy) and accepted(sshd, extra)
    assert_never_shown(deploy, out)
    assert_never_shown(extra, out)
