"""`rondo`: server, agent, db, project, pipeline and orb commands."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from pydantic import ValidationError

from rondo.cli import git_hook
from rondo.cli.api_client import Api, server_url
from rondo.settings import Settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Rondo, a self-hosted CI/CD server.")
db_app = typer.Typer(no_args_is_help=True, help="The database.")
project_app = typer.Typer(no_args_is_help=True, help="Followed repositories.")
pipeline_app = typer.Typer(no_args_is_help=True, help="Pipelines.")
orb_app = typer.Typer(no_args_is_help=True, help="The server's private orb registry.")
app.add_typer(db_app, name="db")
app.add_typer(project_app, name="project")
app.add_typer(pipeline_app, name="pipeline")
config_app = typer.Typer(no_args_is_help=True, help="Check and expand .circleci/config.yml locally.")
app.add_typer(config_app, name="config")

ORB_DIR_HELP = "Take orbs from this folder (NS/NAME@VERSION.yml) instead of the server's registry"
PARAMS_HELP = "Pipeline parameters as a JSON object"


@config_app.command("validate")
def config_validate(
    path: Path = typer.Argument(Path(".circleci/config.yml"), help="The config file"),
    orb_dir: Path | None = typer.Option(None, "--orb-dir", help=ORB_DIR_HELP),
    pipeline_parameters: str | None = typer.Option(None, "--pipeline-parameters", help=PARAMS_HELP),
) -> None:
    """Check a config; every error is printed with its file, line, column and path. Exit 1 if any."""
    from rondo.cli import config_cmd

    config_cmd.validate(load_settings(), path, orb_dir, pipeline_parameters)


@config_app.command("process")
def config_process(
    path: Path = typer.Argument(Path(".circleci/config.yml"), help="The config file"),
    orb_dir: Path | None = typer.Option(None, "--orb-dir", help=ORB_DIR_HELP),
    pipeline_parameters: str | None = typer.Option(None, "--pipeline-parameters", help=PARAMS_HELP),
) -> None:
    """Print the expanded version 2 config, as `circleci config process` does."""
    from rondo.cli import config_cmd

    config_cmd.process(load_settings(), path, orb_dir, pipeline_parameters)


app.add_typer(orb_app, name="orb")


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        lines = [f"  RONDO_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors()]
        raise SystemExit("rondo: invalid settings:\n" + "\n".join(lines)) from None


@app.command()
def server() -> None:
    """Upgrade the database and serve Rondo (with the built-in agent unless RONDO_BUILTIN_AGENT=false)."""
    from rondo.cli.serve import serve

    serve(load_settings())


agent_app = typer.Typer(help="Build agents: run one here, or list, drain and make tokens for them.")
app.add_typer(agent_app, name="agent")


@agent_app.callback(invoke_without_command=True)
def agent(
    ctx: typer.Context,
    server: str = typer.Option("", "--server", envvar="RONDO_AGENT_SERVER", help="Server URL"),
    token: str = typer.Option("", "--token", envvar="RONDO_AGENT_TOKEN", help="Agent token"),
    token_file: Path | None = typer.Option(None, "--token-file", help="Read the agent token from this file"),
    name: str = typer.Option("", "--name", help="Agent name (default: host name)"),
    tasks: int = typer.Option(2, "--tasks", min=1, max=64, help="Tasks run at once"),
    work_dir: Path = typer.Option(Path(".rondo-agent"), "--work-dir", help="Where jobs run"),
    resource_class: list[str] = typer.Option([], "--resource-class", help="Resource classes offered"),
    parent_pid: int | None = typer.Option(None, "--parent-pid", hidden=True, help="Stop when this process ends"),
    docker: str = typer.Option("auto", "--docker", envvar="RONDO_AGENT_DOCKER", help="Run docker jobs: auto|on|off"),
    docker_network: str = typer.Option(
        "bridge", "--docker-network", envvar="RONDO_DOCKER_NETWORK", help="bridge (a network per job) or host"
    ),
    docker_warm_primaries: int = typer.Option(
        2,
        "--docker-warm-primaries",
        envvar="RONDO_DOCKER_WARM_PRIMARIES",
        min=0,
        help="Primary containers like the last job's kept started ahead (bridge network); 0: none",
    ),
    image_map: str = typer.Option(
        "", "--image-map", envvar="RONDO_IMAGE_MAP", help="Development aid: pattern=local-image,… for config images"
    ),
    ecr_endpoint: str = typer.Option(
        "", "--ecr-endpoint", envvar="RONDO_ECR_ENDPOINT", help="aws_auth: an ECR-compatible endpoint instead of AWS's"
    ),
    remote_docker: str = typer.Option(
        "auto",
        "--remote-docker",
        envvar="RONDO_AGENT_REMOTE_DOCKER",
        help="setup_remote_docker: a dockerd per job on this host: auto (as root with dockerd installed)|on|off",
    ),
    remote_docker_dir: Path = typer.Option(
        Path("/var/lib/rondo-remote-docker"),
        "--remote-docker-dir",
        envvar="RONDO_REMOTE_DOCKER_DIR",
        help="Layer stores of remote Docker engines (per job, and kept ones for docker_layer_caching)",
    ),
    remote_docker_subnet: str = typer.Option(
        "10.128.0.0/9",
        "--remote-docker-subnet",
        envvar="RONDO_REMOTE_DOCKER_SUBNET",
        help="Addresses for remote Docker engines: a /16 of it per engine",
    ),
    remote_docker_preload: str = typer.Option(
        "",
        "--remote-docker-preload",
        envvar="RONDO_REMOTE_DOCKER_PRELOAD",
        help="Development aid: name=local-image,… copied into each new remote Docker engine",
    ),
) -> None:
    """Run a build agent here (`rondo agent --server URL --token T`): register, claim tasks that fit, run them."""
    if ctx.invoked_subcommand is not None:
        return
    from rondo.cli.agent_cmd import run_agent

    if token_file is not None:
        token = token_file.read_text().strip()
    if not server or not token:
        raise typer.BadParameter("--server and --token (or --token-file) are required")
    if docker not in ("auto", "on", "off"):
        raise typer.BadParameter("--docker is auto, on or off")
    if docker_network not in ("bridge", "host"):
        raise typer.BadParameter("--docker-network is bridge or host")
    from rondo.agent.remote_docker.engine import RemoteDockerSettings, parse_preload
    from rondo.agent.remote_docker.slots import SlotError, SlotPool

    if remote_docker not in ("auto", "on", "off"):
        raise typer.BadParameter("--remote-docker is auto, on or off")
    try:
        remote = RemoteDockerSettings(
            data_dir=remote_docker_dir.resolve(), subnet=remote_docker_subnet,
            preload=parse_preload(remote_docker_preload),
        )  # fmt: skip
        SlotPool(remote.run_root, remote.subnet)
    except (ValueError, SlotError) as exc:
        raise typer.BadParameter(str(exc)) from None
    run_agent(
        server, token, name, tasks, work_dir, resource_class, parent_pid, docker, docker_network, image_map,
        remote_docker, remote, ecr_endpoint or None, docker_warm_primaries,
    )  # fmt: skip


@agent_app.command("list")
def agent_list() -> None:
    """The agents: id, name, status, drain, resource classes and running tasks (Nomad's node-status)."""
    body = Api(load_settings()).request("GET", "/api/v2/agents")
    typer.echo(f"{'ID':36}  {'NAME':20} {'STATUS':6} {'DRAIN':5} {'RUNNING':7} RESOURCE CLASSES")
    for a in body["items"]:
        classes = ",".join(a["resource_classes"]) or "-"
        line = f"{a['id']:36}  {a['name'][:20]:20} {a['status']:6} {str(a['drain']).lower():5} {len(a['running']):7} "
        typer.echo(line + classes)


@agent_app.command("drain")
def agent_drain(
    agent_id: str = typer.Argument(..., help="The agent's id or name"),
    undo: bool = typer.Option(False, "--undo", help="Let a draining agent claim work again"),
) -> None:
    """Drain an agent: it finishes what runs and claims nothing new."""
    method = "DELETE" if undo else "POST"
    body = Api(load_settings()).request(method, f"/api/v2/agents/{agent_id}/drain")
    typer.echo(body["message"])


@agent_app.command("token")
def agent_token(name: str = typer.Argument(..., help="What the token is for, e.g. the build machine's name")) -> None:
    """Create an agent token (administrators); give it to `rondo agent --token`."""
    body = Api(load_settings()).request("POST", "/api/v2/agent-tokens", {"name": name})
    typer.echo(body["token"])


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Upgrade the database schema to this version of Rondo."""
    from rondo.store.migrate import upgrade

    settings = load_settings()
    upgrade(settings.resolved_database_url)
    typer.echo("database is up to date")


@project_app.command("add")
def project_add(
    vcs_url: str = typer.Argument(..., help="A git repository: a path on the server or a git URL"),
    slug: str = typer.Option(..., "--slug", help="Project slug, e.g. gh/acme/app"),
) -> None:
    """Follow a repository: build its default branch now and every new commit after."""
    settings = load_settings()
    if "://" not in vcs_url and Path(vcs_url).exists():
        vcs_url = str(Path(vcs_url).resolve())
    body = Api(settings).request("POST", f"/api/v2/project/{slug}", {"vcs_url": vcs_url})
    typer.echo(f"following {body['slug']} ({vcs_url})")
    first = body.get("first_pipeline")
    if first:
        typer.echo(f"pipeline {first['number']} on {first['vcs'].get('branch')}: {first['state']}")
    key = body.get("checkout_key")
    if key:  # an SSH repository the server cannot read yet
        typer.echo(body.get("message", ""))
        typer.echo(f"deploy key {key['fingerprint']}:\n{key['public-key']}")


@project_app.command("hook")
def project_hook(path: Path = typer.Argument(..., help="The repository to install the git hook in")) -> None:
    """Install a git hook that tells the server about new commits at once."""
    settings = load_settings()
    try:
        written = git_hook.install(path, server_url(settings))
    except ValueError as exc:
        raise SystemExit(f"rondo: {exc}") from None
    for hook in written:
        typer.echo(f"installed {hook}")


@pipeline_app.command("trigger")
def pipeline_trigger(
    slug: str = typer.Argument(..., help="Project slug, e.g. gh/acme/app"),
    branch: str | None = typer.Option(None, "--branch"),
    tag: str | None = typer.Option(None, "--tag"),
) -> None:
    """Trigger a pipeline on a branch or tag."""
    settings = load_settings()
    body: dict[str, str] = {}
    if branch:
        body["branch"] = branch
    if tag:
        body["tag"] = tag
    typer.echo(json.dumps(Api(settings).request("POST", f"/api/v2/project/{slug}/pipeline", body), indent=2))


@orb_app.command("publish")
def orb_publish(
    file: Path = typer.Argument(..., help="A packed orb YAML file"),
    ref: str = typer.Argument(..., help="Where to publish it: namespace/name@X.Y.Z or namespace/name@dev:label"),
) -> None:
    """Publish a packed orb (admins only). Releases are immutable; dev:label versions can be replaced."""
    from rondo.cli import orb_cmd

    orb_cmd.publish_file(Api(load_settings()), file, ref)


@orb_app.command("import")
def orb_import(
    path: Path = typer.Argument(..., help="A folder laid out as NS/NAME@VERSION.yml, or one such file"),
    dev_label: str = typer.Option(
        "dev:local", "--dev-label", help="The version for files named dev:{pipeline.git.revision}"
    ),
) -> None:
    """Publish every packed orb in a folder; one line per file: published, skipped or failed."""
    from rondo.cli import orb_cmd

    if not orb_cmd.import_orbs(Api(load_settings()), path, dev_label):
        raise typer.Exit(1)


@orb_app.command("list")
def orb_list() -> None:
    """The orbs in the registry, their newest release and every version."""
    from rondo.cli import orb_cmd

    orb_cmd.list_orbs(Api(load_settings()))


@orb_app.command("source")
def orb_source(ref: str = typer.Argument(..., help="namespace/name@version; ranges, volatile and dev: work")) -> None:
    """Print the packed YAML of the orb version a reference resolves to."""
    from rondo.cli import orb_cmd

    orb_cmd.print_source(Api(load_settings()), ref)


keys_app = typer.Typer(no_args_is_help=True, help="Master keys of the secrets (envelope encryption).")
app.add_typer(keys_app, name="keys")


@keys_app.command("rotate")
def keys_rotate() -> None:
    """A new master key; every data key re-wrapped under it; old keys dropped. Safe while the server runs."""
    from rondo.cli import keys_cmd

    keys_cmd.rotate(load_settings())


@keys_app.command("list")
def keys_list() -> None:
    """The master keys (ids only) and which one is current."""
    from rondo.cli import keys_cmd

    keys_cmd.list_keys(load_settings())


@app.command("backup")
def backup(
    output: Path | None = typer.Option(
        None, "--output", "-o", help="The archive to write (default: ./rondo-backup-<UTC time>.tar.zst)"
    ),
    no_objects: bool = typer.Option(False, "--no-objects", help="Leave the local object store out"),
) -> None:
    """Back up the installation (database, keys, local objects) into one archive, mode 0600. Safe while serving."""
    from rondo.cli import backup_cmd

    backup_cmd.backup(load_settings(), output, include_objects=not no_objects)


@app.command("restore")
def restore(
    file: Path = typer.Argument(..., help="An archive made by `rondo backup`"),
    force: bool = typer.Option(
        False, "--force", help="Replace a non-empty installation (and ignore other clients of its database)"
    ),
) -> None:
    """Restore a backup into this installation (stop the server first), then upgrade its schema."""
    from rondo.cli import backup_cmd

    backup_cmd.restore(load_settings(), file, force)


admin_app = typer.Typer(no_args_is_help=True, help="Administration: users, organization members, the audit log.")
admin_user_app = typer.Typer(no_args_is_help=True, help="User accounts (administrators).")
admin_member_app = typer.Typer(
    no_args_is_help=True,
    help="Organization members: an organization that lists none is open to every user.",
)
app.add_typer(admin_app, name="admin")
admin_app.add_typer(admin_user_app, name="user")
admin_app.add_typer(admin_member_app, name="member")


@admin_user_app.command("list")
def admin_user_list() -> None:
    """Every user: login, administrator, suspended."""
    from rondo.cli import admin_cmd

    admin_cmd.user_list(Api(load_settings()))


@admin_user_app.command("create")
def admin_user_create(
    login: str = typer.Argument(..., help="The new user's login"),
    name: str = typer.Option("", "--name", help="Full name"),
    admin: bool = typer.Option(False, "--admin", help="Make the user an administrator"),
) -> None:
    """Create a user and print its first API token (shown this once)."""
    from rondo.cli import admin_cmd

    admin_cmd.user_create(Api(load_settings()), login, name, admin)


@admin_user_app.command("suspend")
def admin_user_suspend(login: str = typer.Argument(..., help="The user's login")) -> None:
    """Suspend a user: their tokens and sessions stop working until activated."""
    from rondo.cli import admin_cmd

    admin_cmd.user_suspend(Api(load_settings()), login, True)


@admin_user_app.command("activate")
def admin_user_activate(login: str = typer.Argument(..., help="The user's login")) -> None:
    """Activate a suspended user."""
    from rondo.cli import admin_cmd

    admin_cmd.user_suspend(Api(load_settings()), login, False)


ORG_ARGUMENT = typer.Argument(..., help="The organization: its slug (gh/acme) or its id")


@admin_member_app.command("list")
def admin_member_list(org: str = ORG_ARGUMENT) -> None:
    """The users an organization lists as its members."""
    from rondo.cli import admin_cmd

    admin_cmd.member_list(Api(load_settings()), org)


@admin_member_app.command("add")
def admin_member_add(org: str = ORG_ARGUMENT, login: str = typer.Argument(..., help="The user's login")) -> None:
    """List a user as a member: from the first one on, only members (and administrators) work in it."""
    from rondo.cli import admin_cmd

    admin_cmd.member_change(Api(load_settings()), org, login, True)


@admin_member_app.command("remove")
def admin_member_remove(org: str = ORG_ARGUMENT, login: str = typer.Argument(..., help="The user's login")) -> None:
    """Remove a user from an organization's members (with none left, it is open to every user again)."""
    from rondo.cli import admin_cmd

    admin_cmd.member_change(Api(load_settings()), org, login, False)


@admin_app.command("audit")
def admin_audit(
    start: str = typer.Option("", "--start", help="Events at or after this time (ISO-8601; UTC if no zone)"),
    end: str = typer.Option("", "--end", help="Events before this time"),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the CSV here instead of stdout"),
) -> None:
    """Download the audit log as CSV (nested fields as JSON), streamed."""
    from rondo.cli import admin_cmd

    admin_cmd.audit(Api(load_settings()), start, end, output)


def main() -> None:
    app()
