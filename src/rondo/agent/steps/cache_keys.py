"""Cache key templates, rendered when the step runs as CircleCI does (CONFIG-SPEC §6.5).

`{{ .Branch }}`, `{{ .Revision }}`, `{{ .BuildNum }}`, `{{ .CheckoutKey }}`, `{{ .Environment.NAME }}`,
`{{ checksum "file" }}` (base64 of the file's SHA-256), `{{ epoch }}` (Unix seconds) and `{{ arch }}`.
A missing variable renders as `<no value>`, as Go's templates do; anything else is an error that says
what is known.
"""

from __future__ import annotations

import base64
import hashlib
import platform
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

MAX_KEY_LENGTH = 900
NO_VALUE = "<no value>"
KNOWN = '.Branch, .Revision, .BuildNum, .CheckoutKey, .Environment.NAME, checksum "FILE", epoch, arch'

_ACTION = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}", re.DOTALL)
_ENV = re.compile(r"^\.Environment\.([A-Za-z_][A-Za-z0-9_]*)$")
_CHECKSUM = re.compile(r'^checksum\s+(?:"((?:[^"\\]|\\.)*)"|`([^`]*)`)$')

Checksum = Callable[[str], Awaitable[str]]


class CacheKeyError(Exception):
    """A key template that cannot be rendered; the message says what is wrong and what would be right."""


@dataclass(frozen=True)
class KeyContext:
    branch: str = ""
    revision: str = ""
    build_num: int = 0
    checkout_key: str = ""
    environment: Mapping[str, str] = field(default_factory=dict)
    arch: str = ""


def checksum_of(data: bytes) -> str:
    """CircleCI's `checksum`: the base64 of the SHA-256 of the file's contents."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def arch_string() -> str:
    """Like CircleCI's `{{ arch }}`: the OS, the CPU architecture and, on x86, the CPU family and model."""
    machine = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine() or "unknown")
    family = model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            for line in cpuinfo:
                name, _, value = line.partition(":")
                if name.strip() == "cpu family" and not family:
                    family = value.strip()
                elif name.strip() == "model" and not model:
                    model = value.strip()
                if family and model:
                    break
    except OSError:
        pass
    suffix = f"-{family}_{model}" if family and model.isdigit() else ""
    return f"arch1-{platform.system().lower() or 'linux'}-{machine}{suffix}"


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


async def render_key(template: str, ctx: KeyContext, checksum: Checksum, now: float | None = None) -> str:
    """The key a template names now; `checksum(path)` reads a file of the job."""
    parts: list[str] = []
    last = 0
    for match in _ACTION.finditer(template):
        parts.append(template[last : match.start()])
        last = match.end()
        parts.append(await _evaluate(match.group(1).strip(), template, ctx, checksum, now))
    parts.append(template[last:])
    if "{{" in template[last:]:
        raise CacheKeyError(f"cache key {template!r} has a '{{{{' that is never closed with '}}}}'")
    key = "".join(parts).strip()
    if not key:
        raise CacheKeyError(f"cache key {template!r} renders as an empty key")
    if len(key.encode()) > MAX_KEY_LENGTH:
        raise CacheKeyError(f"cache key is {len(key.encode())} bytes long; the limit is {MAX_KEY_LENGTH}")
    return key


async def _evaluate(expr: str, template: str, ctx: KeyContext, checksum: Checksum, now: float | None) -> str:
    simple = {
        ".Branch": ctx.branch,
        ".Revision": ctx.revision,
        ".BuildNum": str(ctx.build_num),
        ".CheckoutKey": ctx.checkout_key,
    }
    if expr in simple:
        return simple[expr] or NO_VALUE
    if expr == "epoch":
        return str(int(time.time() if now is None else now))
    if expr == "arch":
        return ctx.arch or arch_string()
    env = _ENV.match(expr)
    if env:
        return ctx.environment.get(env.group(1), NO_VALUE)
    found = _CHECKSUM.match(expr)
    if found:
        path = _unquote(found.group(1)) if found.group(1) is not None else found.group(2)
        if not path:
            raise CacheKeyError('`checksum` needs a file name, e.g. {{ checksum "package-lock.json" }}')
        return await checksum(path)
    raise CacheKeyError(f"cache key {template!r}: unknown template action {{{{ {expr} }}}}; known: {KNOWN}")
