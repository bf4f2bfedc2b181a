"""``hivekeeper run`` and the lifecycle commands (list, status, logs, stop, start, restart, rm, export)."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Any

import typer
import yaml
from rich.markup import escape
from typer.core import TyperCommand

from hivekeeper.cli.output import JsonOption, console, emit, error_console, print_table
from hivekeeper.config import load_model, validate_document
from hivekeeper.errors import NotFoundError, ReadyTimeoutError
from hivekeeper.workloads import sources
from hivekeeper.workloads.spec import WorkloadSpec


class _RunCommand(TyperCommand):
    """Remembers whether SOURCE came after ``--``: ``run -- python server.py`` is a local command."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        ctx.meta["hk_after_dashes"] = args[args.index("--") + 1 :] if "--" in args else None
        return super().parse_args(ctx, args)


def register(app: typer.Typer) -> None:
    app.command("run", cls=_RunCommand)(run)
    app.command("list")(list_workloads)
    app.command("status")(status)
    app.command("logs")(logs)
    app.command("stop")(stop)
    app.command("start")(start)
    app.command("restart")(restart)
    app.command("rm")(remove)
    app.command("export")(export)
    app.add_typer(manager_app, name="manager")


manager_app = typer.Typer(help="The per-user manager that keeps workloads running.", no_args_is_help=True)


def _client() -> Any:
    from hivekeeper.workloads.control import ManagerClient

    return ManagerClient().ensure_running()


def run(
    ctx: typer.Context,
    source: str | None = typer.Argument(None, help="Registry name, uvx://PKG[@V], npx://PKG[@V], image, https URL."),
    args: list[str] | None = typer.Argument(None, help="Arguments for the server (after --)."),
    name: str | None = typer.Option(None, "--name", help="Workload name (default: from the source)."),
    runtime: str = typer.Option("sandbox", "--runtime", help="sandbox | docker | podman | process (no isolation)."),
    profile: str | None = typer.Option(None, "--profile", help="Permission profile: none, network, or a file."),
    memory: str | None = typer.Option(None, "--memory", help="Memory limit, e.g. 256m."),
    cpus: float | None = typer.Option(None, "--cpus", help="CPU limit, e.g. 0.5."),
    pids: int | None = typer.Option(None, "--pids", help="Process count limit."),
    allow_host: list[str] | None = typer.Option(None, "--allow-host", help="Allowed egress HOST[:PORT]; repeat."),
    volume: list[str] | None = typer.Option(None, "--volume", "-v", help="HOST:CONTAINER[:ro|:rw]; repeat."),
    secret: list[str] | None = typer.Option(None, "--secret", help="NAME,target=ENV; repeat."),
    env: list[str] | None = typer.Option(None, "--env", "-e", help="K=V; repeat."),
    port: int | None = typer.Option(None, "--port", help="Port of http://127.0.0.1:PORT/mcp (default: free one)."),
    pool: int = typer.Option(1, "--pool", help="Instances kept started and ready."),
    idle_stop: str | None = typer.Option(None, "--idle-stop", help="Stop after this idle time (e.g. 10m)."),
    group: str | None = typer.Option(None, "--group", help="Group for client configuration."),
    registry_database: str | None = typer.Option(
        None,
        "--registry-database",
        help="Registry database a registry name is resolved in (default: the manager's; a URL without password).",
    ),
    from_config: Path | None = typer.Option(None, "--from-config", help="A run.yaml from `hivekeeper export`."),
    as_json: bool = JsonOption,
) -> None:
    """Start an MCP server, isolated, kept up by the manager; prints its URL once it answers tools/list."""
    if from_config is not None:
        spec = load_model(from_config, WorkloadSpec)
        if name:
            spec = spec.model_copy(update={"name": name})
        auto_name = False
    else:
        if source is None:
            raise typer.BadParameter("give a SOURCE, `-- COMMAND ARGS…`, or --from-config FILE")
        after_dashes = ctx.meta.get("hk_after_dashes")
        arguments = list(args or [])
        workdir = None
        if after_dashes == [source, *arguments] or sources.source_kind(source, runtime) == "command":
            located = sources.locate_command(source, Path.cwd())
            if located is not None:
                source, workdir = located, os.getcwd()
            elif after_dashes == [source, *arguments]:
                raise NotFoundError(f"command {source!r} not found (not a file, not on PATH)")
        document: dict[str, Any] = {
            "name": name or _default_name(source, arguments),
            "source": source,
            "args": arguments,
            "workdir": workdir,
            "runtime": runtime,
            "profile": profile,
            "memory": memory,
            "cpus": cpus,
            "pids": pids,
            "allow_hosts": allow_host or [],
            "volumes": volume or [],
            "secrets": secret or [],
            "env": _env_pairs(env or []),
            "port": port,
            "pool": pool,
            "idle_stop": idle_stop,
            "group": group,
            "registry_database": registry_database,
        }
        spec = validate_document({k: v for k, v in document.items() if v is not None}, WorkloadSpec, "hivekeeper run")
        auto_name = name is None
    spec = _anchor_paths(spec)
    if spec.profile is not None:
        from hivekeeper.policy.profiles import load_profile

        load_profile(spec.profile)  # a malformed profile fails here, before anything starts
    client = _client()
    progress = console.status(f"starting {spec.name}…", spinner="dots") if not as_json else contextlib.nullcontext()
    with progress:
        record = client.call("run", spec_document=spec.model_dump(mode="json"), auto_name=auto_name)
    # The manager knows the profile in force (a registry entry may choose it): its warnings, on stderr in
    # either mode, so `--json` output piped into a script still reaches a human.
    for warning in record.get("warnings", ()):
        error_console.print(f"[bold yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)
    emit(record, as_json, lambda r: console.print(f"{r['name']} running at [bold]{r['url']}[/]", highlight=False))


def _anchor_paths(spec: WorkloadSpec) -> WorkloadSpec:
    """Make host paths absolute here: the manager resolves them later, from another working directory."""
    from hivekeeper.policy.profiles import BUILTIN_PROFILES

    def absolute(path: str) -> str:
        return os.path.abspath(os.path.expanduser(path))

    volumes = []
    for volume in spec.volumes:
        host, sep, rest = volume.partition(":")
        volumes.append(absolute(host) + sep + rest)
    profile = spec.profile
    if profile is not None and profile not in BUILTIN_PROFILES:
        profile = absolute(profile)
    return spec.model_copy(update={"volumes": volumes, "profile": profile})


def _default_name(source: str, args: list[str]) -> str:
    from hivekeeper.workloads.manager import default_name

    return default_name(source, args)


def _env_pairs(pairs: list[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise typer.BadParameter(f"--env {pair!r}: expected K=V")
        env[key] = value
    return env


_COLUMNS = ["NAME", "STATUS", "URL", "SOURCE", "RUNTIME", "POOL", "RESTARTS", "LAST ERROR"]


def _rows(records: list[dict[str, Any]]) -> list[list[Any]]:
    return [
        [r["name"], r["status"], r["url"], r["source"], r["runtime"], r["pool"], r["restarts"], r["last_error"] or ""]
        for r in records
    ]


def list_workloads(as_json: bool = JsonOption) -> None:
    """List workloads and their state (error states included)."""
    records = _client().call("list")
    emit(records, as_json, lambda rs: print_table(None, _COLUMNS, _rows(rs)))


def status(name: str, as_json: bool = JsonOption) -> None:
    """Show one workload in detail."""
    record = _client().call("status", name=name)

    def render(r: dict[str, Any]) -> None:
        for key, value in r.items():
            console.print(f"[bold]{key}[/]: {value}", highlight=False)

    emit(record, as_json, render)


def logs(name: str, follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new lines.")) -> None:
    """Print a workload's log (its stderr and the manager's lifecycle lines, secrets redacted)."""
    from hivekeeper.workloads.state import StateStore, logs_dir

    if not StateStore().path(name).exists():
        raise NotFoundError(f"no workload named {name!r} (see hivekeeper list)")
    path = logs_dir() / f"{name}.log"
    offset = 0
    while True:
        try:
            with open(path, "rb") as handle:
                handle.seek(offset)
                chunk = handle.read()
        except FileNotFoundError:
            chunk = b""
        if chunk:
            sys.stdout.write(chunk.decode("utf-8", "replace"))
            sys.stdout.flush()
            offset += len(chunk)
        if not follow:
            return
        time.sleep(0.25)


def _lifecycle(op: str, name: str, as_json: bool, verb: str) -> None:
    record = _client().call(op, name=name)
    emit(record, as_json, lambda r: console.print(f"{name} {verb}", highlight=False))


def stop(name: str, as_json: bool = JsonOption) -> None:
    """Stop a workload (it stays stopped across manager restarts)."""
    _lifecycle("stop", name, as_json, "stopped")


def start(name: str, as_json: bool = JsonOption) -> None:
    """Start a stopped workload."""
    _lifecycle("start", name, as_json, "started")


def restart(name: str, as_json: bool = JsonOption) -> None:
    """Restart a workload (clears an error state)."""
    _lifecycle("restart", name, as_json, "restarted")


def remove(name: str, as_json: bool = JsonOption) -> None:
    """Stop and delete a workload: state, logs, package cache and sandbox leftovers."""
    _lifecycle("rm", name, as_json, "removed")


def export(name: str) -> None:
    """Print a workload as run.yaml (secret references only) for `hivekeeper run --from-config`."""
    document = _client().call("export", name=name)
    validate_document(document, WorkloadSpec, "export")
    sys.stdout.write(yaml.safe_dump(document, sort_keys=False))


__all__ = ["register"]


@manager_app.command("run")
def manager_run() -> None:
    """Run the manager in the foreground (for a systemd user unit or another supervisor)."""
    from hivekeeper.workloads.daemon import main

    main()


@manager_app.command("start")
def manager_start(as_json: bool = JsonOption) -> None:
    """Start the manager in the background if it is not running; it brings back the workloads left running."""
    info = {"pid": _client().call("ping")["pid"], "socket": str(_socket())}
    emit(info, as_json, lambda i: console.print(f"manager running (pid {i['pid']})", highlight=False))


@manager_app.command("status")
def manager_status(as_json: bool = JsonOption) -> None:
    """Whether the manager runs, and how many workloads it holds (does not start it)."""
    from hivekeeper.workloads.control import ManagerClient

    client = ManagerClient()
    info: dict[str, Any] = {"running": client.alive(), "socket": str(client.path)}
    if info["running"]:
        info["pid"] = client.call("ping")["pid"]
        info["workloads"] = len(client.call("list"))

    def render(i: dict[str, Any]) -> None:
        state = f"running (pid {i['pid']}, {i['workloads']} workloads)" if i["running"] else "not running"
        console.print(f"manager {state}", highlight=False)

    emit(info, as_json, render)


@manager_app.command("stop")
def manager_stop() -> None:
    """Stop the manager and its servers; what was running comes back at the next manager start."""
    import signal

    from hivekeeper.workloads.control import ManagerClient

    client = ManagerClient()
    if not client.alive():
        console.print("manager not running", highlight=False)
        return
    pid = int(client.call("ping")["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    # The control socket closes first; the servers' ports close only when the process is gone.
    while not _process_gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if not _process_gone(pid):
        raise ReadyTimeoutError(f"the manager (pid {pid}) did not stop within 30 s")
    console.print("manager stopped", highlight=False)


def _process_gone(pid: int) -> bool:
    """True once ``pid`` has exited (a zombie awaiting its parent's wait counts as gone)."""
    try:
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (ProcessLookupError, FileNotFoundError):
        return True


def _socket() -> Path:
    from hivekeeper.workloads.control import socket_path

    return socket_path()
