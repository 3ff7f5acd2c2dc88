"""A small HashiCorp Vault stand-in for the transit secrets engine, on loopback, for the contract test.

No Vault server can run here (none is packaged for Debian or PyPI), so this implements the part of
Vault's HTTP API that Rondo uses, as Vault documents it (https://developer.hashicorp.com/vault/api-docs/
secret/transit): token in `X-Vault-Token`, keys with versions, `vault:v<N>:<base64>` ciphertexts,
`{"data": ...}` answers and `{"errors": [...]}` failures (403 for a bad token, 404 for an unknown key).
It really encrypts (AES-256-GCM per key version), so a wrong ciphertext fails as Vault's would.
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PATH = re.compile(r"^/v1/(?P<mount>[\w-]+)/(?P<op>keys|encrypt|decrypt|rewrap)/(?P<name>[\w-]+)(?P<rotate>/rotate)?$")
CIPHERTEXT = re.compile(r"^vault:v(?P<version>\d+):(?P<body>[A-Za-z0-9+/=]+)$")


class FakeVault:
    def __init__(self, token: str, mount: str = "transit") -> None:
        self.token = token
        self.mount = mount
        self.keys: dict[str, list[bytes]] = {}  # name -> key versions (index 0 is v1)
        self.requests: list[tuple[str, str]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeVault:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # ---- transit ------------------------------------------------------------------------------

    def _encrypt(self, name: str, plaintext: bytes) -> str:
        versions = self.keys.setdefault(name, [AESGCM.generate_key(bit_length=256)])
        nonce = os.urandom(12)
        body = nonce + AESGCM(versions[-1]).encrypt(nonce, plaintext, None)
        return f"vault:v{len(versions)}:{base64.b64encode(body).decode()}"

    def _decrypt(self, name: str, ciphertext: str) -> bytes:
        match = CIPHERTEXT.match(ciphertext)
        versions = self.keys.get(name)
        if match is None or versions is None:
            raise ValueError("invalid ciphertext: no prefix")
        version = int(match["version"])
        if not 1 <= version <= len(versions):
            raise ValueError("invalid key version")
        raw = base64.b64decode(match["body"])
        try:
            return AESGCM(versions[version - 1]).decrypt(raw[:12], raw[12:], None)
        except InvalidTag:
            raise ValueError("cipher: message authentication failed") from None

    def handle(self, method: str, path: str, token: str | None, body: dict[str, Any]) -> tuple[int, Any]:
        self.requests.append((method, path))
        if token != self.token:
            return 403, {"errors": ["permission denied"]}
        match = PATH.match(path)
        if match is None or match["mount"] != self.mount:
            return 404, {"errors": [f"no handler for route {path!r}"]}
        op, name = match["op"], match["name"]
        if op == "keys":
            if match["rotate"] and method == "POST":
                if name not in self.keys:
                    return 400, {"errors": ["key not found"]}
                self.keys[name].append(AESGCM.generate_key(bit_length=256))
                return 204, None
            if method == "POST":
                if body.get("type", "aes256-gcm96") != "aes256-gcm96":
                    return 400, {"errors": ["unsupported key type"]}
                self.keys.setdefault(name, [AESGCM.generate_key(bit_length=256)])
                return 204, None
            if name not in self.keys:
                return 404, {"errors": []}
            n = len(self.keys[name])
            return 200, {
                "data": {
                    "name": name,
                    "type": "aes256-gcm96",
                    "latest_version": n,
                    "min_decryption_version": 1,
                    "keys": {str(v): 1700000000 for v in range(1, n + 1)},
                }
            }
        try:
            if op == "encrypt":
                ciphertext = self._encrypt(name, base64.b64decode(body["plaintext"]))
                return 200, {"data": {"ciphertext": ciphertext, "key_version": len(self.keys[name])}}
            if op == "decrypt":
                plain = self._decrypt(name, body["ciphertext"])
                return 200, {"data": {"plaintext": base64.b64encode(plain).decode()}}
            plain = self._decrypt(name, body["ciphertext"])
            ciphertext = self._encrypt(name, plain)
            return 200, {"data": {"ciphertext": ciphertext, "key_version": len(self.keys[name])}}
        except (KeyError, ValueError) as exc:
            return 400, {"errors": [str(exc)]}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        vault = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else {}
                status, answer = vault.handle(method, self.path, self.headers.get("X-Vault-Token"), body)
                payload = b"" if answer is None else json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:
                self._answer("GET")

            def do_POST(self) -> None:
                self._answer("POST")

            do_PUT = do_POST

            def log_message(self, *args: object) -> None:
                pass

        return Handler
