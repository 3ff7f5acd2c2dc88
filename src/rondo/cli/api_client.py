"""The CLI's one HTTP client: talks to the server at RONDO_URL with RONDO_TOKEN (or the admin token file)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx2
import typer

from rondo.secrets.tokens import ADMIN_TOKEN_FILE
from rondo.settings import Settings


def server_url(settings: Settings) -> str:
    return os.environ.get("RONDO_URL", "").rstrip("/") or settings.resolved_public_url


def api_token(settings: Settings) -> str:
    token = os.environ.get("RONDO_TOKEN", "").strip()
    if token:
        return token
    path = settings.resolved_data_dir / ADMIN_TOKEN_FILE
    if path.exists():
        return Path(path).read_text().strip()
    raise typer.BadParameter(f"set RONDO_TOKEN, or run where {path} exists (the server writes it on first start)")


class Api:
    def __init__(self, settings: Settings) -> None:
        self.base = server_url(settings)
        self._client = httpx2.Client(base_url=self.base, headers={"Circle-Token": api_token(settings)}, timeout=60.0)

    def request(self, method: str, path: str, json: Any = None) -> Any:
        """The JSON body of a successful answer; any error ends the command with the server's message."""
        status, body = self.send(method, path, json)
        if status >= 400:
            raise SystemExit(f"rondo: {method} {path} failed ({status}): {error_message(body)}")
        return body

    def stream(self, method: str, path: str, params: dict[str, str] | None = None) -> Any:
        """A streamed answer (`with api.stream(...) as response`), for downloads of any size."""
        return self._client.stream(method, path, params=params, timeout=None)

    def send(self, method: str, path: str, json: Any = None) -> tuple[int, Any]:
        """The status code and JSON body, errors included, for commands that carry on after one."""
        try:
            response = self._client.request(method, path, json=json)
        except httpx2.HTTPError as exc:
            raise SystemExit(f"rondo: cannot reach the server at {self.base}: {exc}") from None
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, {"message": response.text}


def error_message(body: Any) -> str:
    message = body.get("message") if isinstance(body, dict) else None
    return str(message or body)
