"""Cache key templates render as CircleCI's do, when the step runs."""

from __future__ import annotations

import base64
import hashlib

import pytest

from rondo.agent.steps.cache_keys import CacheKeyError, KeyContext, arch_string, render_key

CTX = KeyContext(
    branch="feature/x",
    revision="0123abcd",
    build_num=42,
    environment={"CIRCLE_JOB": "build", "NODE_VERSION": "20"},
    arch="arch1-linux-amd64-6_85",
)
FILES = {"package-lock.json": b'{"lockfileVersion": 3}\n', "a b/req.txt": b"flask\n"}


async def checksum(path: str) -> str:
    if path not in FILES:
        raise CacheKeyError(f"{path} does not exist")
    return base64.b64encode(hashlib.sha256(FILES[path]).digest()).decode()


@pytest.mark.parametrize(
    ("template", "key"),
    [
        ("v1-{{ .Branch }}-{{ .Revision }}", "v1-feature/x-0123abcd"),
        ("v1-{{.BuildNum}}", "v1-42"),
        ("deps-{{ .Environment.CIRCLE_JOB }}-{{ .Environment.NODE_VERSION }}", "deps-build-20"),
        ("deps-{{ .Environment.NOT_SET }}", "deps-<no value>"),
        ("{{ arch }}-x", "arch1-linux-amd64-6_85-x"),
        ("epoch-{{ epoch }}", "epoch-1700000000"),
        ("{{- .Branch -}}", "feature/x"),
        ("plain-key", "plain-key"),
        (
            'npm-{{ checksum "package-lock.json" }}',
            "npm-" + base64.b64encode(hashlib.sha256(FILES["package-lock.json"]).digest()).decode(),
        ),
        (
            "pip-{{ checksum `a b/req.txt` }}",
            "pip-" + base64.b64encode(hashlib.sha256(FILES["a b/req.txt"]).digest()).decode(),
        ),
    ],
)
async def test_templates_render(template: str, key: str) -> None:
    assert await render_key(template, CTX, checksum, now=1700000000.5) == key


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("v1-{{ .Nope }}", "unknown template action {{ .Nope }}"),
        ('v1-{{ checksum "missing.lock" }}', "missing.lock does not exist"),
        ("v1-{{ .Branch ", "never closed"),
        ('{{ checksum "" }}', "needs a file name"),
        ("x" * 901, "limit is 900"),
    ],
)
async def test_bad_templates_say_what_is_wrong(template: str, message: str) -> None:
    with pytest.raises(CacheKeyError, match=message.replace("{", r"\{").replace("}", r"\}").replace(".", r"\.")):
        await render_key(template, CTX, checksum)


def test_arch_names_the_os_and_cpu() -> None:
    assert arch_string().startswith("arch1-linux-")
