"""`rondo config validate|process`: compile a config locally, with orbs from a folder or the server."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from rondo import config
from rondo.cli.api_client import Api, error_message
from rondo.settings import Settings


class ServerOrbSource:
    """Orbs from the server's private registry, through its API (`GET /api/v2/orbs/NS/NAME/VERSION`)."""

    def __init__(self, api: Api) -> None:
        self.api = api

    def resolve(self, ref: config.OrbRef) -> config.OrbVersion:
        status, body = self.api.send("GET", f"/api/v2/orbs/{ref.namespace}/{ref.name}/{ref.version}")
        if status == 404:
            raise config.OrbNotFound(error_message(body))
        if status >= 400 or not isinstance(body, dict):
            raise config.OrbNotFound(f"the server could not give orb {ref}: {error_message(body)}")
        exact = config.OrbRef(ref.namespace, ref.name, str(body.get("version", ref.version)))
        return config.OrbVersion(exact, str(body.get("source", "")))


def _orb_source(settings: Settings, orb_dir: Path | None, text: str) -> config.OrbSource:
    if orb_dir is not None:
        return config.DirectoryOrbSource(orb_dir)
    if "orbs:" not in text:
        return config.NoOrbs()
    return ServerOrbSource(Api(settings))


def _parameters(raw: str | None) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"--pipeline-parameters must be a JSON object: {exc}") from None
    if not isinstance(value, dict):
        raise typer.BadParameter("--pipeline-parameters must be a JSON object of names to values")
    return value


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SystemExit(f"rondo: cannot read {path}: {exc}") from None


def _report(exc: config.ConfigErrors) -> None:
    for error in exc.errors:
        print(str(error), file=sys.stderr)
    raise typer.Exit(1)


def validate(settings: Settings, path: Path, orb_dir: Path | None, parameters: str | None) -> None:
    text = _read(path)
    try:
        config.compile_config(
            text,
            filename=str(path),
            parameters=_parameters(parameters),
            orb_source=_orb_source(settings, orb_dir, text),
        )
    except config.ConfigErrors as exc:
        _report(exc)
    typer.echo(f"Config file at {path} is valid.")


def process(settings: Settings, path: Path, orb_dir: Path | None, parameters: str | None) -> None:
    text = _read(path)
    try:
        compiled = config.compile_config(
            text,
            filename=str(path),
            parameters=_parameters(parameters),
            orb_source=_orb_source(settings, orb_dir, text),
        )
    except config.ConfigErrors as exc:
        _report(exc)
    sys.stdout.write(compiled.processed_yaml)
    sys.stdout.write("\n# Original config.yml file:\n" + "".join(f"# {line}\n" for line in text.splitlines()))
