"""`rondo admin`: user accounts, organization members and the audit log, through the server's API."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from rondo.cli.api_client import Api, error_message


def user_list(api: Api) -> None:
    body = api.request("GET", "/api/v2/admin/users")
    typer.echo(f"{'LOGIN':24} {'ADMIN':5} {'SUSPENDED':9} NAME")
    for u in body["items"]:
        typer.echo(f"{u['login'][:24]:24} {str(u['admin']).lower():5} {str(u['suspended']).lower():9} {u['name']}")


def user_create(api: Api, login: str, name: str, admin: bool) -> None:
    body = api.request("POST", "/api/v2/admin/users", {"login": login, "name": name, "admin": admin})
    state = " (suspended until activated: suspend_new_users is on)" if body["suspended"] else ""
    typer.echo(f"created {body['login']}{state}; its API token:", err=True)
    typer.echo(body["token"])


def user_suspend(api: Api, login: str, suspend: bool) -> None:
    api.request("POST", f"/api/v2/admin/users/{login}/{'suspend' if suspend else 'activate'}")
    typer.echo(f"{login} is {'suspended' if suspend else 'active'}")


def organization_id(api: Api, org: str) -> str:
    """An organization's id from its slug (`gh/acme`, `github/acme`) or its id."""
    orgs = api.request("GET", "/api/v2/me/collaborations")
    vcs, _, name = org.partition("/")
    short = {"github": "gh", "bitbucket": "bb"}.get(vcs, vcs)
    for found in orgs:
        if org in (found["id"], found["slug"]) or found["slug"] == f"{short}/{name}":
            return str(found["id"])
    raise SystemExit(f"rondo: no organization {org}; `rondo admin member list` takes a slug such as gh/acme or an id")


def member_list(api: Api, org: str) -> None:
    body = api.request("GET", f"/api/v2/organizations/{organization_id(api, org)}/members")
    if body["open"]:
        typer.echo(f"{org} lists no members: every user works in it")
    for user in body["items"]:
        typer.echo(f"{user['login']:24} {user['name']}")


def member_change(api: Api, org: str, login: str, add: bool) -> None:
    path = f"/api/v2/organizations/{organization_id(api, org)}/members/{login}"
    typer.echo(api.request("PUT" if add else "DELETE", path)["message"])


def audit(api: Api, start: str, end: str, output: Path | None) -> None:
    params = {k: v for k, v in (("start", start), ("end", end)) if v}
    with api.stream("GET", "/api/v2/admin/audit-log", params) as response:
        if response.status_code >= 400:
            response.read()
            try:
                body = response.json()
            except ValueError:
                body = response.text
            raise SystemExit(f"rondo: the audit log download failed ({response.status_code}): {error_message(body)}")
        out = output.open("w", encoding="utf-8", newline="") if output else sys.stdout
        try:
            for text in response.iter_text():
                out.write(text)
        finally:
            if output:
                out.close()
