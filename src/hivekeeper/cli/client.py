"""``hivekeeper client``: connect AI clients (Claude, Cursor, VS Code, …) to hivekeeper."""

from __future__ import annotations

from typing import Any

import typer

from hivekeeper.cli.output import JsonOption, console, emit, print_table
from hivekeeper.errors import ConfigError

client_app = typer.Typer(help="Register hivekeeper's servers in AI clients' MCP configs.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(client_app, name="client")


def _status_rows(items: list[dict[str, Any]]) -> None:
    print_table(
        None,
        ["client", "detected", "registered", "entries", "config"],
        [
            (
                item["name"],
                "yes" if item["detected"] else "no",
                ("yes" if item["registered"] else "no") + (f" ({item['problem']})" if item["problem"] else ""),
                ", ".join(item["entries"]) + (f"  missing: {', '.join(item['missing'])}" if item["missing"] else ""),
                item["config"],
            )
            for item in items
        ],
    )


@client_app.command("list")
def list_clients(as_json: bool = JsonOption) -> None:
    """Every supported client: detected here or not, and whether hivekeeper is registered in it."""
    from hivekeeper.clients import status

    emit([item.as_dict() for item in status()], as_json, _status_rows)


@client_app.command("status")
def client_status(as_json: bool = JsonOption) -> None:
    """The clients hivekeeper is registered in, with the entries it owns and any drift."""
    from hivekeeper.clients import status

    emit([item.as_dict() for item in status() if item.registration], as_json, _status_rows)


@client_app.command("register")
def register_clients(
    clients: list[str] = typer.Argument(..., help="Client ids (see `client list`), or 'all' for every detected one."),
    group: str | None = typer.Option(None, "--group", "-g", help="Register the running workloads of this group."),
    url: str | None = typer.Option(None, "--url", help="Register one fixed endpoint (e.g. the gateway) instead."),
    name: str = typer.Option("hivekeeper", "--name", help="Entry name for --url."),
    force: bool = typer.Option(False, "--force", help="Replace same-named entries hivekeeper did not write."),
    as_json: bool = JsonOption,
) -> None:
    """Write hivekeeper's entries into the clients' configs (comments and other servers are kept)."""
    from hivekeeper.clients import Endpoint, register, workload_endpoints

    if url is not None and group is not None:
        raise ConfigError("--url and --group exclude each other: a client follows one gateway or a group")
    if url is not None and not url.startswith(("http://", "https://")):
        raise ConfigError(f"--url: {url!r} is not an http(s) URL")
    endpoints = [Endpoint(name, url)] if url else workload_endpoints(group)
    done = register(clients, endpoints, group=group, follows_workloads=url is None, force=force)
    emit([{"client": r.client, "group": r.group, "entries": r.entries} for r in done], as_json, _print_registered)


def _print_registered(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        entries = ", ".join(row["entries"]) or "no running workloads yet"
        console.print(f"registered [bold]{row['client']}[/]: {entries}")


@client_app.command("remove")
def remove_clients(
    clients: list[str] = typer.Argument(..., help="Client ids, or 'all'."),
    as_json: bool = JsonOption,
) -> None:
    """Remove the entries hivekeeper wrote (and only those) from the clients' configs."""
    from hivekeeper.clients import remove

    removed = remove(clients)
    emit(removed, as_json, lambda ids: console.print(f"removed from: {', '.join(ids) or 'nothing registered'}"))
