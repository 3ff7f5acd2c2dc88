"""Orb references (`ns/name@version`), version resolution, and where orb source comes from.

The compiler never does I/O itself: it asks an `OrbSource` for the packed YAML of an orb version.
The server's private registry and a directory of packed orbs (`NS/NAME@VERSION.yml`, the layout of
the CLI's `--orb-dir`) both implement it. Version rules (CONFIG-SPEC §11.1): `1.2.3` exact, `1.2`
newest 1.2.x, `1` newest 1.x.y, `volatile` newest of all, `dev:LABEL` a mutable dev version.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

NAME = r"[a-z][a-z0-9_-]*"
_REF = re.compile(rf"^(?P<ns>{NAME})/(?P<name>{NAME})@(?P<version>\S+)$")
_SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
_RANGE = re.compile(r"^(\d+)(?:\.(\d+))?(?:\.(\d+))?$")
_DEV = re.compile(r"^dev:[.A-Za-z0-9_-]+$")


class OrbNotFound(Exception):
    """The orb, or a version matching the reference, is not in the source."""


@dataclass(frozen=True, order=True)
class OrbRef:
    """A registry reference as written in `orbs:`: namespace, name and version spec."""

    namespace: str
    name: str
    version: str  # "1.2.3", "1.2", "1", "volatile" or "dev:label"

    @classmethod
    def parse(cls, text: str) -> OrbRef:
        """Parse `ns/name@version`; raises ValueError with a message that shows the right form."""
        m = _REF.match(text.strip())
        if m is None or not is_version_spec(m["version"]):
            raise ValueError(
                f"'{text}' is not an orb reference; expected namespace/name@version, where version is "
                "1.2.3, 1.2, 1, volatile or dev:label"
            )
        return cls(m["ns"], m["name"], m["version"])

    @property
    def full_name(self) -> str:
        return f"{self.namespace}/{self.name}"

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}@{self.version}"


def is_version_spec(version: str) -> bool:
    return version == "volatile" or bool(_RANGE.match(version)) or bool(_DEV.match(version))


def is_exact_version(version: str) -> bool:
    """A version an orb can be published as: `X.Y.Z` or `dev:label`."""
    return bool(_SEMVER.match(version)) or bool(_DEV.match(version))


def semver_key(version: str) -> tuple[int, int, int]:
    m = _SEMVER.match(version)
    if m is None:
        raise ValueError(f"'{version}' is not a semantic version X.Y.Z")
    return int(m[1]), int(m[2]), int(m[3])


def pick_version(available: Iterable[str], wanted: str) -> str | None:
    """The published version that `wanted` resolves to, or None."""
    versions = set(available)
    if wanted.startswith("dev:"):
        return wanted if wanted in versions else None
    releases = sorted((v for v in versions if _SEMVER.match(v)), key=semver_key)
    if wanted == "volatile":
        return releases[-1] if releases else None
    m = _RANGE.match(wanted)
    if m is None:
        return None
    want = tuple(int(p) for p in m.groups() if p is not None)
    matching = [v for v in releases if semver_key(v)[: len(want)] == want]
    return matching[-1] if matching else None


@dataclass(frozen=True)
class OrbVersion:
    """One published orb version: its exact reference and its packed YAML source."""

    ref: OrbRef  # with the exact version, e.g. circleci/node@5.0.2
    source: str


class OrbSource(Protocol):
    """Where the compiler gets orbs from. `resolve` raises OrbNotFound with a message for people."""

    def resolve(self, ref: OrbRef) -> OrbVersion: ...


class NoOrbs:
    """An OrbSource with nothing in it, for configs compiled where no registry is available."""

    def resolve(self, ref: OrbRef) -> OrbVersion:
        raise OrbNotFound(f"Orb {ref.full_name} does not exist or is private (no orb registry is configured)")


class DirectoryOrbSource:
    """Packed orbs in a directory laid out as `NS/NAME@VERSION.yml`.

    A file's version is the one written in its name. A reference is first looked up by that exact
    text (so `node@5.yml` answers `circleci/node@5`), then resolved by the version rules over the
    exact versions present. A file named `dev:{pipeline.git.revision}` answers any `dev:` label,
    which is how orb repositories test the revision being built.
    """

    ANY_DEV = "dev:{pipeline.git.revision}"

    def __init__(self, root: Path) -> None:
        self.root = root

    def _versions(self, ref: OrbRef) -> dict[str, Path]:
        folder = self.root / ref.namespace
        prefix = f"{ref.name}@"
        found: dict[str, Path] = {}
        if folder.is_dir():
            for path in folder.iterdir():
                if path.suffix in (".yml", ".yaml") and path.stem.startswith(prefix):
                    found[path.stem[len(prefix) :]] = path
        return found

    def resolve(self, ref: OrbRef) -> OrbVersion:
        versions = self._versions(ref)
        if not versions:
            raise OrbNotFound(f"Orb {ref.full_name} does not exist or is private (not found in {self.root})")
        path = versions.get(ref.version)
        exact = ref.version
        if path is None:
            picked = pick_version([v for v in versions if is_exact_version(v)], ref.version)
            if picked is None and ref.version.startswith("dev:") and self.ANY_DEV in versions:
                picked = self.ANY_DEV
            if picked is None:
                raise OrbNotFound(f"Unknown version {ref.version} for orb {ref.full_name}")
            path = versions[picked]
            exact = ref.version if picked == self.ANY_DEV else picked
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise OrbNotFound(f"Orb {ref} could not be read from {path}: {exc}") from exc
        return OrbVersion(OrbRef(ref.namespace, ref.name, exact), text)
