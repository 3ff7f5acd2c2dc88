"""Reading the private keys people paste (made here by ssh-keygen and openssl), and making deploy keys."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import load_ssh_private_key

from rondo.secrets.ssh_keys import SshKeyError, generate_ed25519, read_private_key


def keygen(path: Path, kind: str, *extra: str, passphrase: str = "") -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", kind, *extra, "-N", passphrase, "-C", "", "-f", str(path)], check=True)
    return path.read_text()


def fingerprints(public_file: Path) -> tuple[str, str]:
    def one(*args: str) -> str:
        out = subprocess.run(["ssh-keygen", "-l", *args, "-f", str(public_file)], capture_output=True, text=True)
        return out.stdout.split()[1]

    return one("-E", "md5").removeprefix("MD5:"), one()


@pytest.mark.parametrize(
    ("kind", "extra", "key_type"),
    [
        ("ed25519", (), "ed25519"),
        ("rsa", ("-b", "2048"), "rsa"),
        ("rsa", ("-b", "2048", "-m", "PEM"), "rsa"),  # -----BEGIN RSA PRIVATE KEY-----
        ("rsa", ("-b", "2048", "-m", "PKCS8"), "rsa"),  # -----BEGIN PRIVATE KEY-----
        ("ecdsa", ("-b", "384"), "ecdsa"),
        ("ecdsa", ("-m", "PEM"), "ecdsa"),  # -----BEGIN EC PRIVATE KEY-----
    ],
)
def test_keys_people_paste_are_read_in_every_format(
    tmp_path: Path, kind: str, extra: tuple[str, ...], key_type: str
) -> None:
    text = keygen(tmp_path / "key", kind, *extra)
    pasted = text.replace("\n", "\r\n") + "\n\n"  # pasted through a browser on Windows
    pair = read_private_key(pasted)
    assert pair.key_type == key_type
    assert (pair.fingerprint, pair.sha256_fingerprint) == fingerprints(tmp_path / "key.pub")
    assert pair.public_key.split()[:2] == (tmp_path / "key.pub").read_text().split()[:2]
    assert pair.private_key.startswith("-----BEGIN OPENSSH PRIVATE KEY-----\n") and pair.private_key.endswith("\n")
    # What jobs get is a key ssh itself reads, with the same public half.
    (tmp_path / "stored").write_text(pair.private_key)
    (tmp_path / "stored").chmod(0o600)
    derived = subprocess.run(["ssh-keygen", "-y", "-f", str(tmp_path / "stored")], capture_output=True, text=True)
    assert derived.stdout.split()[:2] == pair.public_key.split()[:2]


def test_keys_that_cannot_be_used_are_refused_with_the_reason(tmp_path: Path) -> None:
    ed = keygen(tmp_path / "ed", "ed25519")
    lines = ed.splitlines()
    damaged = "\n".join([*lines[:2], lines[2][::-1], *lines[3:]])
    refused = [
        (keygen(tmp_path / "enc", "ed25519", passphrase="correct horse"), "protected by a passphrase"),
        (keygen(tmp_path / "enc2", "rsa", "-b", "2048", "-m", "PEM", passphrase="correct horse"), "passphrase"),
        ((tmp_path / "ed.pub").read_text(), "This is a public key"),
        ("hello", "This is not a private key"),
        (damaged, "cannot be read"),
        ("-----BEGIN OPENSSH PRIVATE KEY-----\n" + "A" * 20000, "the limit is"),
    ]
    for text, reason in refused:
        with pytest.raises(SshKeyError, match=reason):
            read_private_key(text)
    openssl = subprocess.run(["openssl", "genpkey", "-algorithm", "ed448"], capture_output=True, text=True, check=True)
    with pytest.raises(SshKeyError, match="Ed448 keys are not supported"):
        read_private_key(openssl.stdout)


def test_deploy_keys_are_new_ed25519_pairs() -> None:
    a, b = generate_ed25519(), generate_ed25519()
    assert a.fingerprint != b.fingerprint and a.key_type == "ed25519"
    key = load_ssh_private_key(a.private_key.encode(), None)
    assert key.public_key().public_bytes_raw() in base64.b64decode(a.public_key.split()[1])
    assert read_private_key(a.private_key).fingerprint == a.fingerprint
