"""SSH keys in CircleCI's terms: fingerprints (MD5 colon-hex and `SHA256:`), SSH git URLs, key file names.

Pure: keys arrive already read (`rondo.secrets.ssh_keys` reads and makes them). Both the server (which
computes fingerprints and decides who gets which key) and the agent (which writes the keys into a
job and runs git over SSH with them) use these.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import shlex

_MD5 = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){15}$")
_MD5_BARE = re.compile(r"^[0-9a-f]{32}$")
_SHA256 = re.compile(r"^[A-Za-z0-9+/]{43}$")
_SCHEMES = ("ssh", "git+ssh", "ssh+git")
MIN_MASKED_LINE = 16  # key body lines shorter than this (the last one of a block) are not masked alone
_OPENSSH_MAGIC = b"openssh-key-v1\x00"


def md5_fingerprint(blob: bytes) -> str:
    """The MD5 fingerprint of a public key blob, colon-hex (`ssh-keygen -l -E md5` without `MD5:`)."""
    digest = hashlib.md5(blob, usedforsecurity=False).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, 32, 2))


def sha256_fingerprint(blob: bytes) -> str:
    """The SHA256 fingerprint of a public key blob, as `ssh-keygen -l` prints it: `SHA256:` + base64."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii").rstrip("=")


def public_key_blob(public_key: str) -> bytes:
    """The key blob of an OpenSSH public key line (`ssh-ed25519 AAAA… comment`)."""
    parts = public_key.split()
    if len(parts) < 2:
        raise ValueError("not an OpenSSH public key line")
    try:
        return base64.b64decode(parts[1], validate=True)
    except binascii.Error:
        raise ValueError("the public key's base64 is damaged") from None


def normalize_fingerprint(text: str) -> str | None:
    """A fingerprint as written by a person (`MD5:` prefix, upper case, no colons, `SHA256:` with padding)
    in the one form Rondo compares: colon-hex MD5 or `SHA256:` unpadded base64. None when it is neither."""
    value = text.strip()
    if value[:7].upper() == "SHA256:":
        body = value[7:].rstrip("=")
        return "SHA256:" + body if _SHA256.match(body) else None
    if value[:4].upper() == "MD5:":
        value = value[4:]
    value = value.lower()
    if _MD5_BARE.match(value):
        value = ":".join(value[i : i + 2] for i in range(0, 32, 2))
    return value if _MD5.match(value) else None


def key_file_name(md5: str) -> str:
    """The file an additional key gets in `~/.ssh`: `id_rsa_` and its MD5 fingerprint without colons."""
    return "id_rsa_" + md5.replace(":", "")


def is_ssh_url(url: str) -> bool:
    """Whether git reaches this repository over SSH: `ssh://…`, or scp-like `[user@]host:path`.

    git's rule for the scp-like form: no `://`, and a colon before the first slash. A one-letter
    "host" is a Windows drive, and a path with a slash before any colon is a local path.
    """
    if "://" in url:
        return url.split("://", 1)[0].lower() in _SCHEMES
    head, colon, _ = url.partition(":")
    host = head.rsplit("@", 1)[-1]
    return bool(colon) and "/" not in head and len(host) > 1


def known_hosts_name(url: str) -> str | None:
    """How known_hosts names the host of an SSH URL: `host`, or `[host]:port` for a port other than 22."""
    if not is_ssh_url(url):
        return None
    if "://" in url:
        authority = url.split("://", 1)[1].split("/", 1)[0].rsplit("@", 1)[-1]
        if authority.startswith("["):  # [v6 address]:port
            host, _, rest = authority[1:].partition("]")
            port = rest.removeprefix(":")
        else:
            host, _, port = authority.partition(":")
    else:
        host, port = url.split(":", 1)[0].rsplit("@", 1)[-1], ""
    host = host.lower()
    return f"[{host}]:{port}" if port and port != "22" else host


def known_hosts_for(url: str, known_hosts: str) -> str:
    """The lines of a known_hosts file that are about the host of an SSH URL."""
    name = known_hosts_name(url)
    if name is None:
        return ""
    lines = [line for line in known_hosts.splitlines() if name in line.split(" ", 1)[0].split(",")]
    return "".join(line + "\n" for line in lines)


def git_ssh_command(identity_file: str, known_hosts: str) -> str:
    """`GIT_SSH_COMMAND` for git over SSH with exactly one key, never prompting.

    No ssh config is read (`-F /dev/null`): the machine's own keys and settings stay out of it. A
    host seen for the first time is remembered in `known_hosts`; a changed host key is refused.
    """
    return " ".join(
        [
            "ssh -F /dev/null",
            f"-i {shlex.quote(identity_file)}",
            "-o IdentitiesOnly=yes",
            f"-o UserKnownHostsFile={shlex.quote(known_hosts)}",
            "-o StrictHostKeyChecking=accept-new",
            "-o BatchMode=yes",
        ]
    )


def _public_prefix(body: bytes) -> int:
    """How many bytes an OpenSSH private key file starts with that are not secret: its magic, cipher,
    KDF, key count and public key (0 when the format is not the one expected)."""
    if not body.startswith(_OPENSSH_MAGIC):
        return 0
    at = len(_OPENSSH_MAGIC)
    try:
        for _ in range(3):  # cipher name, KDF name, KDF options
            at += 4 + int.from_bytes(body[at : at + 4], "big")
        at += 4  # the number of keys
        at += 4 + int.from_bytes(body[at : at + 4], "big")  # the public key
    except IndexError:
        return 0
    return at if at <= len(body) else 0


def secret_fragments(private_key: str) -> list[str]:
    """What to mask in job output for a private key: the whole text and each line of its base64 body,
    so a key printed in part (`head`, a diff) is hidden too. The lines of an OpenSSH key that hold only
    its header and public key are the same in every such key or public: those are left alone."""
    text = private_key.strip()
    lines = [line.strip() for line in text.splitlines()]
    body = [line for line in lines if line and not line.startswith("-----") and ":" not in line]
    try:
        public = _public_prefix(base64.b64decode("".join(body)))
    except binascii.Error:
        public = 0
    secret, chars = [], 0
    for line in body:
        chars += len(line)
        end = (chars * 3 + 3) // 4  # one past the last byte this line's characters encode
        if end > public and len(line) >= MIN_MASKED_LINE:
            secret.append(line)
    return [text, *secret]
