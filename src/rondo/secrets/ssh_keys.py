"""Reading and making SSH private keys: checkout (deploy) keys made here, additional keys pasted by people.

A key is kept in OpenSSH's own format, unencrypted (jobs use it without a passphrase, as on CircleCI),
and sealed like any secret value before it is stored. Only RSA, ECDSA and Ed25519 keys are taken:
the types OpenSSH still accepts by default.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
    load_ssh_private_key,
)
from cryptography.utils import CryptographyDeprecationWarning

from rondo.domain.ssh_keys import md5_fingerprint, public_key_blob, sha256_fingerprint

MAX_PRIVATE_KEY_CHARS = 16 * 1024
MIN_RSA_BITS = 1024  # OpenSSH refuses smaller RSA keys
_CURVES = {"secp256r1", "secp384r1", "secp521r1"}

KeyObject = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def checkout_key_aad(project_id: object, fingerprint: str) -> str:
    """The associated data a checkout key is sealed with: its project and fingerprint."""
    return f"project:{project_id}|checkout-key:{fingerprint}"


def ssh_key_aad(project_id: object, hostname: str, fingerprint: str) -> str:
    """The associated data an additional key is sealed with: its project, hostname and fingerprint."""
    return f"project:{project_id}|ssh-key:{hostname}|{fingerprint}"


class SshKeyError(ValueError):
    """A private key that cannot be used, with what is wrong and what would be right."""


@dataclass(frozen=True)
class SshKeyPair:
    private_key: str  # OpenSSH format, unencrypted, ending in a newline
    public_key: str  # one OpenSSH line: `ssh-ed25519 AAAA…`
    fingerprint: str  # MD5, colon-hex: what CircleCI shows and `add_ssh_keys` names
    sha256_fingerprint: str  # `SHA256:…`, as `ssh-keygen -l` prints it
    key_type: str  # ed25519 | rsa | ecdsa


def _pair(key: KeyObject) -> SshKeyPair:
    private = key.private_bytes(Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption()).decode("ascii")
    public = key.public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode("ascii")
    blob = public_key_blob(public)
    kind = (
        "rsa" if isinstance(key, rsa.RSAPrivateKey) else "ecdsa" if isinstance(key, ec.EllipticCurvePrivateKey) else ""
    )
    return SshKeyPair(private, public, md5_fingerprint(blob), sha256_fingerprint(blob), kind or "ed25519")


def generate_ed25519() -> SshKeyPair:
    """A new Ed25519 key pair: what a checkout key (deploy key) is made of."""
    return _pair(ed25519.Ed25519PrivateKey.generate())


def read_private_key(text: str) -> SshKeyPair:
    """A pasted private key (PEM: PKCS#1, SEC1 or PKCS#8; or OpenSSH), checked and put in OpenSSH form."""
    if len(text) > MAX_PRIVATE_KEY_CHARS:
        raise SshKeyError(f"The private key is {len(text)} characters long; the limit is {MAX_PRIVATE_KEY_CHARS}.")
    clean = "\n".join(line.strip() for line in text.strip().splitlines()) + "\n"
    if clean.startswith(("ssh-", "ecdsa-sha2-")):
        raise SshKeyError("This is a public key. Paste the private key: the file that starts with -----BEGIN.")
    if not clean.startswith("-----BEGIN ") or "PRIVATE KEY-----" not in clean:
        raise SshKeyError(
            "This is not a private key: paste a PEM or OpenSSH private key, the whole file from "
            "-----BEGIN … PRIVATE KEY----- to its -----END line."
        )
    data = clean.encode("ascii", errors="replace")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)  # DSA keys load, then are refused
            if clean.startswith("-----BEGIN OPENSSH PRIVATE KEY-----"):
                key: object = load_ssh_private_key(data, password=None)
            else:
                key = load_pem_private_key(data, password=None)
    except TypeError:
        raise SshKeyError(
            "The private key is protected by a passphrase, which jobs cannot type. Add a key without one "
            "(`ssh-keygen -p -N '' -f KEYFILE` removes the passphrase from a copy)."
        ) from None
    except (UnsupportedAlgorithm, ValueError):
        # Never the library's own words: they can quote bytes of the key.
        raise SshKeyError(
            "The private key cannot be read: is it complete and unchanged, and an RSA, ECDSA or Ed25519 key?"
        ) from None
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise SshKeyError(f"The RSA key has {key.key_size} bits; OpenSSH needs at least {MIN_RSA_BITS}.")
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        if key.curve.name not in _CURVES:
            raise SshKeyError(f"The ECDSA key uses the curve {key.curve.name}; OpenSSH takes nistp256, 384 or 521.")
    elif not isinstance(key, ed25519.Ed25519PrivateKey):
        kind = type(key).__name__.removeprefix("_").replace("PrivateKey", "")
        raise SshKeyError(f"{kind} keys are not supported: use an RSA, ECDSA or Ed25519 key.")
    return _pair(key)
