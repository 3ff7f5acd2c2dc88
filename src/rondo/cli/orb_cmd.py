"""`rondo orb`: publish packed orbs to the server's private registry, import a folder of them, read them.

`import` takes the layout `NS/NAME@VERSION.yml` (what `DirectoryOrbSource` reads). A file
named for a range publishes as the lowest version of that range unless the registry already has a
release the range resolves to; see `target_version` for every rule.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import typer

from rondo.cli.api_client import Api, error_message
from rondo.config.orbs import NAME, OrbRef, is_exact_version, is_version_spec, pick_version
from rondo.engine.orbs import source_digest

ORB_SUFFIXES = (".yml", ".yaml")
_SEMVER = re.compile(r"^\d+\.\d+\.\d+$")


class Skip(Exception):
    """This file need not be published; the message says why."""


@dataclass(frozen=True)
class OrbFile:
    """A packed orb file, `NS/NAME@VERSION.yml`, with the version as written in its name."""

    path: Path
    label: str  # how the file is named in messages: ns/name@spec.yml
    namespace: str
    name: str
    spec: str

    @classmethod
    def from_path(cls, path: Path, label: str) -> OrbFile:
        namespace = path.parent.name
        name, at, spec = path.stem.partition("@")
        if not at or not spec:
            raise ValueError("the file name is not NAME@VERSION.yml")
        for what, value in (("namespace (its folder)", namespace), ("name", name)):
            if not re.fullmatch(NAME, value):
                raise ValueError(f"the orb {what} '{value}' is not lower-case letters, digits, '-' and '_'")
        return cls(path, label, namespace, name, spec)

    def order(self) -> tuple[str, str, int, tuple[int, ...], str]:
        """Exact releases first, then ranges from the most specific, then volatile, then dev versions.

        So a range file is skipped when the release it stands for is also present as an exact file.
        """
        if _SEMVER.match(self.spec):
            rank = 0
        elif self.spec.startswith("dev:"):
            rank = 5
        elif self.spec == "volatile":
            rank = 4
        else:
            rank = 3 - self.spec.count(".")  # X.Y before X
        parts = tuple(int(p) for p in self.spec.split(".") if p.isdigit()) if rank < 4 else ()
        return (self.namespace, self.name, rank, parts, self.spec)


def target_version(spec: str, existing: list[str], dev_label: str) -> str:
    """The exact version a file named with `spec` publishes as, given the versions already published.

    Raises Skip when the registry already answers that spec, ValueError when `spec` is not a version.
    """
    if spec.startswith("dev:"):
        return spec if is_exact_version(spec) else dev_label  # dev:{pipeline.git.revision} and the like
    if _SEMVER.match(spec):
        return spec
    if not is_version_spec(spec):
        raise ValueError(f"'{spec}' in the file name is not a version (1.2.3, 1.2, 1, volatile or dev:label)")
    existing_release = pick_version(existing, spec)
    if spec == "volatile":
        if existing_release:
            raise Skip(f"the registry already has releases (newest {existing_release}); volatile becomes 0.0.0 only")
        return "0.0.0"
    if existing_release:
        raise Skip(f"the registry already has {existing_release}, which @{spec} resolves to")
    parts = [str(int(p)) for p in spec.split(".")]
    return ".".join(parts + ["0"] * (3 - len(parts)))


def orb_path(namespace: str, name: str, version: str | None = None) -> str:
    path = f"/api/v2/orbs/{namespace}/{name}"
    return path if version is None else f"{path}/{quote(version, safe='')}"


def publish_file(api: Api, path: Path, ref_text: str) -> None:
    """`rondo orb publish FILE ns/name@X.Y.Z`."""
    try:
        ref = OrbRef.parse(ref_text)
        source = path.read_text(encoding="utf-8")
    except (ValueError, OSError) as exc:
        raise SystemExit(f"rondo: {exc}") from None
    body = api.request("POST", orb_path(ref.namespace, ref.name), {"version": ref.version, "source": source})
    typer.echo(f"published {body['name']}@{body['version']} (sha256 {body['digest'][:12]})")


def collect(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise SystemExit(f"rondo: {root} is neither an orb file nor a folder of them")
    return sorted(p for p in root.glob("*/*") if p.suffix in ORB_SUFFIXES and p.is_file())


class Importer:
    """Publishes orb files one by one, printing one line per file; remembers what the registry holds."""

    def __init__(self, api: Api, dev_label: str) -> None:
        if not dev_label.startswith("dev:") or not is_exact_version(dev_label):
            raise typer.BadParameter(f"--dev-label must look like dev:label, not '{dev_label}'")
        self.api = api
        self.dev_label = dev_label
        self.counts = {"published": 0, "skipped": 0, "failed": 0}
        self._versions: dict[tuple[str, str], list[str]] = {}

    def run(self, root: Path) -> None:
        files: list[OrbFile] = []
        for path in collect(root):
            label = str(path.relative_to(root)) if root.is_dir() else f"{path.parent.name}/{path.name}"
            try:
                files.append(OrbFile.from_path(path, label))
            except ValueError as exc:
                self.report("failed", f"{label}: {exc}")
        for orb_file in sorted(files, key=OrbFile.order):
            try:
                self.report("published", self.import_one(orb_file))
            except Skip as exc:
                self.report("skipped", f"{orb_file.label}: {exc}")
            except ValueError as exc:
                self.report("failed", f"{orb_file.label}: {exc}")

    def report(self, outcome: str, text: str) -> None:
        self.counts[outcome] += 1
        typer.echo(f"{outcome} {text}")

    def import_one(self, orb_file: OrbFile) -> str:
        try:
            source = orb_file.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"cannot read it: {exc}") from None
        versions = self.versions(orb_file.namespace, orb_file.name)
        version = target_version(orb_file.spec, versions, self.dev_label)
        ref = f"{orb_file.namespace}/{orb_file.name}@{version}"
        replaced = ""
        if version in versions:
            if self.published_digest(orb_file, version) == source_digest(source):
                raise Skip(f"{ref} is already published with the same source")
            if not version.startswith("dev:"):
                raise ValueError(f"{ref} is already published with a different source, and releases are immutable")
            replaced = ", replacing the earlier source"
        status, body = self.api.send(
            "POST", orb_path(orb_file.namespace, orb_file.name), {"version": version, "source": source}
        )
        if status != 201:
            raise ValueError(error_message(body))
        versions.append(version)
        return f"{ref} from {orb_file.label}{replaced}"

    def versions(self, namespace: str, name: str) -> list[str]:
        key = (namespace, name)
        if key not in self._versions:
            status, body = self.api.send("GET", orb_path(namespace, name))
            if status not in (200, 404):
                raise SystemExit(f"rondo: cannot list the versions of {namespace}/{name}: {error_message(body)}")
            self._versions[key] = list(body["versions"]) if status == 200 else []
        return self._versions[key]

    def published_digest(self, orb_file: OrbFile, version: str) -> str | None:
        status, body = self.api.send("GET", orb_path(orb_file.namespace, orb_file.name, version))
        return str(body["digest"]) if status == 200 else None


def import_orbs(api: Api, root: Path, dev_label: str) -> bool:
    """`rondo orb import`; True when no file failed."""
    importer = Importer(api, dev_label)
    importer.run(root)
    counts = importer.counts
    typer.echo(f"{counts['published']} published, {counts['skipped']} skipped, {counts['failed']} failed")
    return counts["failed"] == 0


def list_orbs(api: Api) -> None:
    items: list[dict[str, Any]] = api.request("GET", "/api/v2/orbs")["items"]
    if not items:
        typer.echo("no orbs in the registry yet; add some with `rondo orb import DIR`")
        return
    width = max(len(item["name"]) for item in items)
    for item in items:
        latest = item["latest"] or "-"
        flags = ("  (private)" if item["private"] else "") + ("" if item["listed"] else "  (unlisted)")
        typer.echo(f"{item['name']:<{width}}  latest {latest:<8}  versions {', '.join(item['versions'])}{flags}")


def print_source(api: Api, ref_text: str) -> None:
    """`rondo orb source ns/name@version`: the packed YAML of the version the reference resolves to."""
    try:
        ref = OrbRef.parse(ref_text)
    except ValueError as exc:
        raise SystemExit(f"rondo: {exc}") from None
    source = str(api.request("GET", orb_path(ref.namespace, ref.name, ref.version))["source"])
    sys.stdout.write(source if source.endswith("\n") else source + "\n")
