"""Fingerprints as OpenSSH prints them, the fingerprint forms people write, SSH git URLs, what to mask."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest

from rondo.domain.ssh_keys import (
    git_ssh_command,
    is_ssh_url,
    key_file_name,
    known_hosts_for,
    known_hosts_name,
    md5_fingerprint,
    normalize_fingerprint,
    public_key_blob,
    secret_fragments,
    sha256_fingerprint,
)


@pytest.mark.parametrize("kind", ["ed25519", "rsa", "ecdsa"])
def test_fingerprints_match_ssh_keygen(tmp_path: Path, kind: str) -> None:
    key = tmp_path / "key"
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-f", str(key)], check=True)
    public = (tmp_path / "key.pub").read_text()

    def keygen(*args: str) -> str:
        out = subprocess.run(["ssh-keygen", "-l", *args, "-f", str(key) + ".pub"], capture_output=True, text=True)
        return out.stdout.split()[1]

    blob = public_key_blob(public)
    assert "MD5:" + md5_fingerprint(blob) == keygen("-E", "md5")
    assert sha256_fingerprint(blob) == keygen()


def test_fingerprints_people_write_are_normalized() -> None:
    md5 = "b7:35:a6:4e:9b:0d:6d:d4:78:1e:9a:97:2a:66:6b:62"
    for written in (md5, md5.upper(), "MD5:" + md5, md5.replace(":", ""), f"  {md5}\n"):
        assert normalize_fingerprint(written) == md5
    sha = "SHA256:N4qvp6MSbXcTz/27xz96VPsNuTDRT92zoRP8EW0I/8I"
    assert normalize_fingerprint(sha) == sha
    assert normalize_fingerprint(sha + "=") == sha  # base64 padding, as some tools print it
    assert normalize_fingerprint("sha256:" + sha[7:]) == sha
    for wrong in ("", "b7:35", "SHA256:short", "zz" * 16, "SHA256:" + "!" * 43):
        assert normalize_fingerprint(wrong) is None
    assert key_file_name(md5) == "id_rsa_b735a64e9b0d6dd4781e9a972a666b62"


@pytest.mark.parametrize(
    ("url", "ssh"),
    [
        ("git@github.com:acme/app.git", True),
        ("github.com:acme/app", True),
        ("ssh://git@gitea.local:2222/acme/app.git", True),
        ("git+ssh://git@host/acme/app.git", True),
        ("SSH://host/app.git", True),
        ("https://github.com/acme/app.git", False),
        ("http://host/app.git", False),
        ("file:///srv/git/app.git", False),
        ("/srv/git/app.git", False),
        ("./app:with-colon", False),
        ("C:/repos/app", False),
        ("app", False),
    ],
)
def test_which_urls_are_ssh(url: str, ssh: bool) -> None:
    assert is_ssh_url(url) is ssh


def test_known_hosts_names_and_lines_of_a_repository_s_host() -> None:
    assert known_hosts_name("git@GitHub.com:acme/app.git") == "github.com"
    assert known_hosts_name("ssh://git@gitea.local:2222/acme/app.git") == "[gitea.local]:2222"
    assert known_hosts_name("ssh://gitea.local:22/app.git") == "gitea.local"
    assert known_hosts_name("ssh://git@[::1]:2200/app.git") == "[::1]:2200"
    assert known_hosts_name("https://github.com/acme/app.git") is None
    text = "github.com ssh-ed25519 AAAA1\n[gitea.local]:2222 ssh-ed25519 AAAA2\ngitea.local,10.0.0.2 ssh-rsa AAAA3\n"
    assert known_hosts_for("ssh://git@gitea.local:2222/a.git", text) == "[gitea.local]:2222 ssh-ed25519 AAAA2\n"
    assert known_hosts_for("git@gitea.local:a.git", text) == "gitea.local,10.0.0.2 ssh-rsa AAAA3\n"
    assert known_hosts_for("/srv/git/a.git", text) == ""


def test_git_ssh_command_uses_one_key_and_quotes_paths() -> None:
    command = git_ssh_command("/tmp/a b/key", "/tmp/a b/known_hosts")
    assert command.startswith("ssh -F /dev/null -i '/tmp/a b/key' -o IdentitiesOnly=yes")
    assert (
        "-o UserKnownHostsFile='/tmp/a b/known_hosts' -o StrictHostKeyChecking=accept-new -o BatchMode=yes" in command
    )


@pytest.mark.parametrize(("kind", "bits"), [("ed25519", "256"), ("rsa", "2048"), ("ecdsa", "521")])
def test_secret_fragments_are_the_key_and_its_private_lines(tmp_path: Path, kind: str, bits: str) -> None:
    key = tmp_path / "key"
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-b", bits, "-N", "", "-f", str(key)], check=True)
    private, public = key.read_text(), (tmp_path / "key.pub").read_text()
    fragments = secret_fragments(private)
    assert fragments[0] == private.strip()
    body = [line for line in private.splitlines() if not line.startswith("-----")]
    assert set(fragments[1:]) <= set(body) and len(fragments) > 2
    # The file's first lines hold its header and public key only: not secrets, and the same in every key.
    public_only = [line for line in body if line not in fragments and len(line) >= 16]
    assert body[0] in public_only and all(line in body[: len(public_only)] for line in public_only)
    raw = base64.b64decode("".join(body))
    secret_start = raw.index(base64.b64decode(public.split()[1])) + len(base64.b64decode(public.split()[1]))
    covered = (len("".join(public_only)) * 3) // 4
    assert covered <= secret_start  # nothing of the private part is left unmasked
    # Damaged or other formats: every long line is masked.
    assert secret_fragments("-----BEGIN X-----\n" + "A" * 64 + "\n-----END X-----")[1:] == ["A" * 64]
