"""Checkout keys (v1.1 and v2) and additional SSH keys (v1.1, the settings page) on the real app and database.

Public halves and fingerprints come out; private halves go in (additional keys) or are made (deploy keys)
and are found in no answer, no audit event and no table in clear. Keys people add are made by `ssh-keygen`.
"""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx2
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_ssh_private_key

from rondo.secrets.envelope import Sealed
from rondo.secrets.ssh_keys import checkout_key_aad
from rondo.server.services import Services
from rondo.store import ssh_keys as key_q
from rondo.vcs import VcsError
from tests.plaintext import database_text, private_key_parts
from tests.server.conftest import Clients

V1 = "/api/v1.1/project/github/acme/app"
V2 = "/api/v2/project/gh/acme/app"
MD5 = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){15}$")


@dataclass
class Api:
    admin: httpx2.AsyncClient
    browser: httpx2.AsyncClient
    svc: Services
    database_url: str
    project_id: str


@pytest.fixture
async def api(clients: Clients, tmp_path: Path, database_url: str) -> AsyncIterator[Api]:
    followed = await clients.follow(tmp_path / "repo", {"README.md": "# app\n"})
    async with clients.client() as browser:
        admin_token = clients.admin.headers["Circle-Token"]
        assert (await browser.post("/login", data={"token": admin_token})).status_code == 303
        yield Api(clients.admin, browser, clients.svc, database_url, followed["id"])


def keygen(path: Path, kind: str, *extra: str, passphrase: str = "") -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", kind, *extra, "-N", passphrase, "-C", "", "-f", str(path)], check=True)
    return path.read_text()


def ssh_keygen_fingerprints(public_key: str) -> tuple[str, str]:
    """(MD5 without its `MD5:` prefix, SHA256) as OpenSSH's own ssh-keygen prints them."""

    def one(*args: str) -> str:
        out = subprocess.run(["ssh-keygen", "-l", *args, "-f", "-"], input=public_key, capture_output=True, text=True)
        return out.stdout.split()[1]

    return one("-E", "md5").removeprefix("MD5:"), one()


def ok(resp: httpx2.Response, status: int = 200) -> Any:
    assert resp.status_code == status, f"{resp.request.method} {resp.request.url}: {resp.status_code} {resp.text}"
    return resp.json()


async def private_half(api: Api, fingerprint: str) -> str:
    """The sealed private key of a checkout key, opened the way the server opens it for a job."""
    async with api.svc.db.session() as session:
        rows = await key_q.checkout_keys(session, uuid.UUID(api.project_id))
    row = next(r for r in rows if r.fingerprint == fingerprint)
    aad = checkout_key_aad(row.project_id, row.fingerprint)
    return await api.svc.secret_box.open(Sealed(row.wrapped_dek, row.ciphertext), aad)


def assert_nowhere(api: Api, private_key: str, *answers: str) -> None:
    text = database_text(api.database_url)
    for fragment in private_key_parts(private_key):
        assert fragment not in text
        for answer in answers:
            assert fragment not in answer


async def test_checkout_keys_in_v1_1(api: Api) -> None:
    assert ok(await api.admin.get(f"{V1}/checkout-key")) == []
    first = ok(await api.admin.post(f"{V1}/checkout-key", json={"type": "deploy-key"}))
    assert set(first) == {"public_key", "type", "fingerprint", "preferred", "time", "login"}
    assert first["public_key"].startswith("ssh-ed25519 ") and first["type"] == "deploy-key"
    assert MD5.match(first["fingerprint"]) and first["preferred"] is True and first["login"] is None
    assert first["time"].endswith("Z")
    md5, sha256 = ssh_keygen_fingerprints(first["public_key"])
    assert first["fingerprint"] == md5

    second = ok(await api.admin.post(f"{V1}/checkout-key", json={"type": "deploy-key"}))
    listed = ok(await api.admin.get(f"{V1}/checkout-key"))
    assert [(k["fingerprint"], k["preferred"]) for k in listed] == [
        (second["fingerprint"], True),
        (first["fingerprint"], False),
    ]
    by_sha = ok(await api.admin.get(f"{V1}/checkout-key", params={"digest": "sha256"}))
    assert by_sha[1]["fingerprint"] == sha256
    one = ok(await api.admin.get(f"{V1}/checkout-key/{first['fingerprint']}"))
    assert (one["fingerprint"], one["preferred"]) == (first["fingerprint"], False)
    same = ok(await api.admin.get(f"{V1}/checkout-key/{quote(sha256, safe='')}", params={"digest": "sha256"}))
    assert same["fingerprint"] == sha256 and same["public_key"] == first["public_key"]

    # The private half is a real key of that public key, kept sealed.
    private = await private_half(api, first["fingerprint"])
    key = load_ssh_private_key(private.encode(), None)
    assert key.public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode() == first["public_key"]

    # Deleting the preferred key makes the newest other one preferred; unknown fingerprints are 404s.
    assert ok(await api.admin.delete(f"{V1}/checkout-key/{second['fingerprint']}")) == {"message": "ok"}
    assert [(k["fingerprint"], k["preferred"]) for k in ok(await api.admin.get(f"{V1}/checkout-key"))] == [
        (first["fingerprint"], True)
    ]
    for method in ("GET", "DELETE"):
        gone = await api.admin.request(method, f"{V1}/checkout-key/{second['fingerprint']}")
        assert (gone.status_code, gone.json()) == (404, {"message": "Checkout key not found."})
    assert (await api.admin.get(f"{V1}/checkout-key/not-a-fingerprint")).status_code == 404

    user_key = await api.admin.post(f"{V1}/checkout-key", json={"type": "github-user-key"})
    assert user_key.status_code == 400 and "GitHub sign-in" in user_key.json()["message"]
    assert (await api.admin.post(f"{V1}/checkout-key", json={"type": "nope"})).status_code == 400
    assert (await api.admin.get(f"{V1}/checkout-key", params={"digest": "sha1"})).status_code == 400
    nobody = await httpx2.AsyncClient(transport=api.admin._transport, base_url="http://rondo.test").get(
        f"{V1}/checkout-key"
    )
    assert nobody.status_code == 401
    assert_nowhere(api, private, json.dumps(listed), json.dumps(first))


async def test_checkout_keys_in_v2(api: Api) -> None:
    made = ok(await api.admin.post(f"{V2}/checkout-key", json={"type": "deploy-key"}), 201)
    assert set(made) == {"public-key", "type", "fingerprint", "preferred", "created-at"}
    assert made["preferred"] is True and MD5.match(made["fingerprint"])
    listed = ok(await api.admin.get(f"{V2}/checkout-key", params={"digest": "sha256"}))
    assert listed["next_page_token"] is None
    assert listed["items"][0]["fingerprint"] == ssh_keygen_fingerprints(made["public-key"])[1]
    sha = listed["items"][0]["fingerprint"]
    assert ok(await api.admin.get(f"{V2}/checkout-key/{quote(sha, safe='')}"))["fingerprint"] == made["fingerprint"]
    user_key = await api.admin.post(f"{V2}/checkout-key", json={"type": "user-key"})
    assert user_key.status_code == 400 and "GitHub" in user_key.json()["message"]
    deleted = ok(await api.admin.delete(f"{V2}/checkout-key/{quote(sha, safe='')}"))
    assert deleted == {"message": "Checkout key deleted."}
    assert ok(await api.admin.get(f"{V2}/checkout-key"))["items"] == []
    assert (await api.admin.get("/api/v2/project/gh/acme/nope/checkout-key")).status_code == 404


async def test_additional_ssh_keys_are_checked_listed_and_deleted(api: Api, tmp_path: Path) -> None:
    rsa = keygen(tmp_path / "rsa", "rsa", "-b", "2048", "-m", "PEM")
    ed = keygen(tmp_path / "ed", "ed25519")
    added = ok(await api.admin.post(f"{V1}/ssh-key", json={"hostname": "deploy.example.com", "private_key": rsa}))
    md5, sha256 = ssh_keygen_fingerprints((tmp_path / "rsa.pub").read_text())
    assert added["fingerprint"] == md5 and added["hostname"] == "deploy.example.com"
    assert added["public_key"].startswith("ssh-rsa ")
    # pycircleci sends `"hostname": null` for a key for every host
    everywhere = ok(await api.admin.post(f"{V1}/ssh-key", json={"hostname": None, "private_key": ed}))
    assert everywhere["hostname"] == ""
    again = ok(await api.admin.post(f"{V1}/ssh-key", json={"hostname": "deploy.example.com", "private_key": rsa}))
    assert again == added  # the same key for the same host is kept once

    bad = {
        "garbage": ("not a key at all", "not a private key"),
        "public": ((tmp_path / "ed.pub").read_text(), "This is a public key"),
        "passphrase": (keygen(tmp_path / "enc", "ed25519", passphrase="correct horse"), "passphrase"),
        "pem passphrase": (
            keygen(tmp_path / "enc2", "rsa", "-b", "2048", "-m", "PEM", passphrase="hunter22"),
            "passphrase",
        ),
        "truncated": (rsa[: len(rsa) // 2] + "\n-----END RSA PRIVATE KEY-----\n", "cannot be read"),
    }
    for what, (text, message) in bad.items():
        refused = await api.admin.post(f"{V1}/ssh-key", json={"hostname": "h", "private_key": text})
        assert refused.status_code == 400 and message in refused.json()["message"], what
    spaced = await api.admin.post(f"{V1}/ssh-key", json={"hostname": "two words", "private_key": ed})
    assert spaced.status_code == 400 and "not a hostname" in spaced.json()["message"]

    settings = ok(await api.admin.get(f"{V1}/settings"))
    assert [(k["hostname"], k["fingerprint"]) for k in settings["ssh_keys"]] == [
        ("deploy.example.com", md5),
        ("", everywhere["fingerprint"]),
    ]
    page = await api.browser.get("/projects/gh/acme/app/settings")
    assert "deploy.example.com" in page.text and md5 in page.text and sha256 in page.text

    missing = await api.admin.request("DELETE", f"{V1}/ssh-key", json={"fingerprint": md5, "hostname": "other"})
    assert missing.status_code == 404
    gone = await api.admin.request(
        "DELETE", f"{V1}/ssh-key", json={"fingerprint": sha256, "hostname": "deploy.example.com"}
    )
    assert ok(gone) == {"message": "ok"}
    assert [k["fingerprint"] for k in ok(await api.admin.get(f"{V1}/settings"))["ssh_keys"]] == [
        everywhere["fingerprint"]
    ]

    audit = (await api.admin.get("/api/v2/admin/audit-log")).text
    assert "project.ssh_key.create" in audit and "project.ssh_key.delete" in audit and md5 in audit
    for key in (rsa, ed):
        assert_nowhere(api, key, audit, json.dumps(settings), page.text)


async def test_the_settings_page_makes_and_deletes_keys(api: Api, tmp_path: Path) -> None:
    page = await api.browser.get("/projects/gh/acme/app/settings")
    assert "No checkout keys yet" in page.text and "No additional SSH keys yet" in page.text
    assert "<title>gh/acme/app settings · Rondo</title>" in page.text
    assert page.text.count("Checkout SSH keys") == 1  # one section, none inside the title
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    form = {"csrf": csrf.group(1)}
    assert (
        await api.browser.post("/projects/gh/acme/app/settings/checkout-key", data={"csrf": "x"})
    ).status_code == 403
    made = await api.browser.post("/projects/gh/acme/app/settings/checkout-key", data=form)
    assert made.status_code == 303
    key = ok(await api.admin.get(f"{V1}/checkout-key"))[0]
    page = await api.browser.get("/projects/gh/acme/app/settings")
    assert key["public_key"] in page.text and "preferred" in page.text

    refused = await api.browser.post(
        "/projects/gh/acme/app/settings/ssh-key", data={**form, "hostname": "h", "private_key": "garbage"}
    )
    assert "not a private key" in refused.text
    ed = keygen(tmp_path / "ed", "ed25519")
    added = await api.browser.post(
        "/projects/gh/acme/app/settings/ssh-key", data={**form, "hostname": "", "private_key": ed}
    )
    assert added.status_code == 303
    listed = ok(await api.admin.get(f"{V1}/settings"))["ssh_keys"]
    assert len(listed) == 1 and "every host" in (await api.browser.get("/projects/gh/acme/app/settings")).text
    removed = await api.browser.post(
        "/projects/gh/acme/app/settings/ssh-key/delete",
        data={**form, "fingerprint": listed[0]["fingerprint"], "hostname": ""},
    )
    assert removed.status_code == 303
    dropped = await api.browser.post(
        f"/projects/gh/acme/app/settings/checkout-key/{key['fingerprint']}/delete", data=form
    )
    assert dropped.status_code == 303
    page = await api.browser.get("/projects/gh/acme/app/settings")
    assert "No checkout keys yet" in page.text and "No additional SSH keys yet" in page.text


async def test_following_an_ssh_repository_it_cannot_read_yet_makes_a_deploy_key(api: Api) -> None:
    url = "ssh://git@127.0.0.1:9/acme/other.git"  # nothing listens on the discard port
    followed = ok(await api.admin.post("/api/v2/project/gh/acme/other", json={"vcs_url": url}), 201)
    assert followed["first_pipeline"] is None
    key = followed["checkout_key"]
    assert key["public-key"].startswith("ssh-ed25519 ") and key["preferred"] is True
    assert "cannot read" in followed["message"] and "deploy key" in followed["message"]
    listed = ok(await api.admin.get("/api/v1.1/project/github/acme/other/checkout-key"))
    assert [k["fingerprint"] for k in listed] == [key["fingerprint"]]
    # Any other repository that cannot be read is still refused.
    refused = await api.admin.post("/api/v2/project/gh/acme/third", json={"vcs_url": "/no/such/repository"})
    assert refused.status_code == 400


async def test_a_checkout_key_that_cannot_be_opened_is_a_read_failure_that_says_so(api: Api) -> None:
    followed = ok(await api.admin.post("/api/v2/project/gh/acme/other", json={"vcs_url": "git@127.0.0.1:o.git"}), 201)
    async with api.svc.db.session() as session:
        (row,) = await key_q.checkout_keys(session, uuid.UUID(followed["id"]))
        row.ciphertext = row.ciphertext[:-8] + "AAAAAAAA"  # tampered with
    with pytest.raises(VcsError, match="cannot open the project's checkout key"):
        await api.svc.projects.scan(uuid.UUID(followed["id"]))
