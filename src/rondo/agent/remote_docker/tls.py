"""TLS for a job's remote Docker engine: a CA made for the job, a server and a client certificate.

The engine listens on TCP (port 2376, as on CircleCI) where other jobs' containers could reach it too,
so it accepts only clients holding this job's client certificate (`--tlsverify`); the job gets the
client half as `DOCKER_CERT_PATH`'s ca.pem, cert.pem and key.pem. Keys are P-256 and live as long as
the job may (a day and a bit); nothing is reused between jobs.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_FOR = datetime.timedelta(hours=30)  # longer than a job may run (5 h by default, 24 h at most)


@dataclass(frozen=True)
class TlsMaterial:
    ca_pem: bytes
    server_cert_pem: bytes
    server_key_pem: bytes
    client_cert_pem: bytes
    client_key_pem: bytes

    def client_files(self) -> dict[str, bytes]:
        """The files the docker CLI reads from DOCKER_CERT_PATH."""
        return {"ca.pem": self.ca_pem, "cert.pem": self.client_cert_pem, "key.pem": self.client_key_pem}

    def server_files(self) -> dict[str, bytes]:
        return {"ca.pem": self.ca_pem, "server-cert.pem": self.server_cert_pem, "server-key.pem": self.server_key_pem}


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    pem, pkcs8 = serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8
    return key.private_bytes(pem, pkcs8, serialization.NoEncryption())


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    now: datetime.datetime,
    extensions: list[tuple[x509.ExtensionType, bool]],
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))  # clocks of agent and container may differ a little
        .not_valid_after(now + VALID_FOR)
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical)
    return builder.sign(issuer_key, hashes.SHA256())


def make_tls(address: str, job: str) -> TlsMaterial:
    """A fresh CA, a server certificate for `address` (an IP) and a client certificate, for one job."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert(f"Rondo remote Docker CA for {job}", ca_key, None, ca_key, now, [
        (x509.BasicConstraints(ca=True, path_length=0), True),
        (x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                       key_encipherment=False, data_encipherment=False, key_agreement=False,
                       encipher_only=False, decipher_only=False), True),
    ])  # fmt: skip
    leaf_usage = x509.KeyUsage(digital_signature=True, key_encipherment=False, key_cert_sign=False, crl_sign=False,
                               content_commitment=False, data_encipherment=False, key_agreement=True,
                               encipher_only=False, decipher_only=False)  # fmt: skip
    server_key = ec.generate_private_key(ec.SECP256R1())
    ip = ipaddress.ip_address(address)
    server = _cert("rondo-remote-docker", server_key, ca.subject, ca_key, now, [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (leaf_usage, True),
        (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
        (x509.SubjectAlternativeName([x509.IPAddress(ip), x509.DNSName("localhost")]), False),
    ])  # fmt: skip
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = _cert(f"job {job}", client_key, ca.subject, ca_key, now, [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (leaf_usage, True),
        (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False),
    ])  # fmt: skip
    pem = serialization.Encoding.PEM
    return TlsMaterial(
        ca_pem=ca.public_bytes(pem),
        server_cert_pem=server.public_bytes(pem),
        server_key_pem=_key_pem(server_key),
        client_cert_pem=client.public_bytes(pem),
        client_key_pem=_key_pem(client_key),
    )
