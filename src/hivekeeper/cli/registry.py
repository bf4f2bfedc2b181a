"""``hivekeeper registry list|info|search|publish|sync`` and ``hivekeeper search TEXT``.

Without ``--url`` the commands work on this machine's registry database (the one ``hivekeeper serve``
uses); with ``--url`` they talk to any registry that speaks the official API.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.progress import Progress

from hivekeeper.cli.output import JsonOption, console, emit, print_table
from hivekeeper.config import load_model, parse_document
from hivekeeper.errors import ConfigError

registry_app = typer.Typer(help="The MCP server registry: browse, publish, sync.", no_args_is_help=True)

URL_ENV = "HIVEKEEPER_REGISTRY_URL"
UrlOption = typer.Option(None, "--url", envvar=URL_ENV, help="Registry base URL (default: the local database).")
DatabaseOption = typer.Option(None, "--database", help="SQLAlchemy URL of the local registry database.")
CURATION = "dev.hivekeeper/curation"
OFFICIAL = "io.modelcontextprotocol.registry/official"


def register(app: typer.Typer) -> None:
    app.add_typer(registry_app, name="registry")
    app.command("search")(search_everything)


def _catalogue(url: str | None, database: str | None, token: str | None = None) -> Any:
    from hivekeeper.registry.client import HttpCatalogue, LocalCatalogue

    if url:
        return HttpCatalogue(url, token=token)
    from hivekeeper.registry import RegistrySettings, open_registry

    return LocalCatalogue(open_registry(RegistrySettings(database_url=database)).store)


def _rows(servers: list[dict[str, Any]]) -> list[list[Any]]:
    rows = []
    for item in servers:
        server, meta = item["server"], item.get("_meta", {})
        curation, official = meta.get(CURATION, {}), meta.get(OFFICIAL, {})
        findings = curation.get("findings") or []
        high = sum(1 for finding in findings if finding.get("severity") == "high")
        rows.append(
            [
                server["name"],
                server["version"],
                curation.get("trustTier", ""),
                official.get("status", ""),
                f"{len(findings)} ({high} high)" if findings else "",
                server.get("description", ""),
            ]
        )
    return rows


def _table(title: str, servers: list[dict[str, Any]]) -> None:
    if not servers:
        console.print("no servers")
        return
    print_table(title, ["name", "version", "tier", "status", "findings", "description"], _rows(servers))


@registry_app.command("list")
def list_servers(
    url: str | None = UrlOption,
    database: str | None = DatabaseOption,
    all_versions: bool = typer.Option(False, "--all-versions", help="Every version, not just the latest."),
    as_json: bool = JsonOption,
) -> None:
    """List the servers of the registry (latest versions)."""
    from hivekeeper.registry.client import iterate

    servers = list(iterate(_catalogue(url, database), version=None if all_versions else "latest"))
    emit(servers, as_json, lambda data: _table("registry", data))


@registry_app.command("search")
def search_registry(
    text: str = typer.Argument(..., help="Substring of a name, title or description."),
    url: str | None = UrlOption,
    database: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """Find servers whose name, title or description contains TEXT."""
    from hivekeeper.registry.client import iterate

    servers = list(iterate(_catalogue(url, database), search=text))
    emit(servers, as_json, lambda data: _table(f"matching {text!r}", data))


@registry_app.command("info")
def info(
    name: str = typer.Argument(..., help="Server name, e.g. io.modelcontextprotocol/time."),
    version: str = typer.Option("latest", "--version", help="Exact version or latest."),
    url: str | None = UrlOption,
    database: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """Show one server: description, tools, permissions, secrets, pinned artifacts and findings."""
    emit(_catalogue(url, database).get(name, version), as_json, _render_info)


def _render_info(item: dict[str, Any]) -> None:
    server, meta = item["server"], item.get("_meta", {})
    curation, official = meta.get(CURATION, {}), meta.get(OFFICIAL, {})
    console.print(
        f"[bold]{server.get('title') or server['name']}[/] {server['name']} {server['version']}", highlight=False
    )
    console.print(server.get("description", ""), highlight=False)
    console.print(
        f"tier: {curation.get('trustTier', '?')}  status: {official.get('status', '?')}  "
        f"transport: {curation.get('transport') or '?'}  latest: {official.get('isLatest')}",
        highlight=False,
    )
    if curation.get("tools"):
        print_table(
            "tools",
            ["name", "description sha256"],
            [[t["name"], t["descriptionSha256"][:16]] for t in curation["tools"]],
        )
    if curation.get("env"):
        print_table(
            "environment",
            ["name", "required", "secret"],
            [[v["name"], "yes" if v["required"] else "no", "yes" if v["secret"] else "no"] for v in curation["env"]],
        )
    if curation.get("permissionProfile"):
        console.print(f"permission profile: {curation['permissionProfile']}", highlight=False)
    for artifact in curation.get("artifacts") or []:
        pin = artifact.get("sha256") or artifact.get("digest") or "not pinned"
        package = f"{artifact['registryType']} {artifact['identifier']} {artifact.get('version') or ''}"
        console.print(f"artifact: {package} sha256:{pin}", highlight=False)
    findings = curation.get("findings") or []
    if findings:
        print_table(
            "findings",
            ["severity", "rule", "where", "what"],
            [[f["severity"], f["rule"], f["location"], f["message"]] for f in findings],
        )
    else:
        console.print("findings: none")


@registry_app.command("publish")
def publish(
    file: Path = typer.Argument(..., help="server.json (JSON or YAML) to publish."),
    url: str | None = UrlOption,
    database: str | None = DatabaseOption,
    token: str | None = typer.Option(
        None, "--token", envvar="HIVEKEEPER_REGISTRY_TOKEN", help="Bearer token for --url."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Validate FILE against the official server.json schema and publish it."""
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read: {exc.strerror}") from exc
    document = parse_document(text, str(file))
    if url and not token:
        raise ConfigError("--token (or HIVEKEEPER_REGISTRY_TOKEN) is needed to publish to a registry URL")
    result = _catalogue(url, database, token).publish(document)
    emit(
        result,
        as_json,
        lambda item: console.print(f"published {item['server']['name']} {item['server']['version']}", highlight=False),
    )


@registry_app.command("sync")
def sync(
    source: list[str] | None = typer.Option(
        None, "--source", "-s", help="File, folder, git repository or registry URL; repeat."
    ),
    config: Path | None = typer.Option(None, "--config", "-c", help="Serve config whose registry.sources to sync."),
    database: str | None = DatabaseOption,
    path: str = typer.Option(".", "--path", help="For git sources: file or folder inside the repository."),
    ref: str | None = typer.Option(None, "--ref", help="For git sources: branch or tag."),
    tier: str = typer.Option("community", "--tier", help="Trust tier of what these sources bring."),
    as_json: bool = JsonOption,
) -> None:
    """Import entries from sources (idempotent; bad entries are reported, not fatal). Exit 1 on any problem."""
    from hivekeeper.registry import RegistrySettings, TrustTier, open_registry
    from hivekeeper.registry.sync import source_from_location, sync_source

    try:
        trust = TrustTier(tier)
    except ValueError:
        raise ConfigError(f"--tier: one of {', '.join(t.value for t in TrustTier)}, not {tier!r}") from None
    settings = RegistrySettings(database_url=database)
    sources = []
    if config is not None:
        from hivekeeper.server import ServerConfig

        server_config = load_model(config, ServerConfig)
        settings = server_config.registry.model_copy(
            update={"database_url": database or server_config.registry.database_url}
        )
        sources += server_config.registry.sources
    sources += [source_from_location(location, path=path, ref=ref, tier=trust) for location in source or []]
    if not sources:
        raise ConfigError("give --source LOCATION (repeatable) or --config with registry.sources")
    store = open_registry(settings).store
    reports = []
    with Progress(console=console, transient=True, disable=as_json) as progress:
        task = progress.add_task("syncing", total=len(sources))
        for item in sources:
            progress.update(task, description=f"syncing {item.name}")
            reports.append(sync_source(store, item))
            progress.advance(task)
    emit([report.to_dict() for report in reports], as_json, _render_reports)
    if not all(report.ok for report in reports):
        raise typer.Exit(1)


def _render_reports(reports: list[dict[str, Any]]) -> None:
    for report in reports:
        if report["error"]:
            console.print(f"[red]{report['source']}: {report['error']}[/]", highlight=False)
            continue
        console.print(
            f"{report['source']}: {len(report['created'])} created, {len(report['updated'])} updated, "
            f"{report['unchanged']} unchanged, {len(report['rejected'])} rejected"
            + (f" (at {report['revision'][:12]})" if report["revision"] else ""),
            highlight=False,
        )
        for rejected in report["rejected"]:
            console.print(f"  [yellow]rejected[/] {rejected['where']}: {rejected['reason']}", highlight=False)


def search_everything(
    text: str = typer.Argument(..., help="What you are looking for, in your words."),
    limit: int = typer.Option(10, "--limit", "-n", min=1, max=100, help="How many tools to show."),
    database: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """Search the local catalogue: servers by text, and their tools by meaning."""
    from hivekeeper.portal.services import default_tool_search
    from hivekeeper.registry import RegistrySettings, open_registry

    store = open_registry(RegistrySettings(database_url=database)).store
    servers = [entry.to_response() for entry in store.list(search=text, version="latest", limit=limit).entries]
    tools: list[dict[str, Any]] = []
    tool_search = default_tool_search(store)
    if tool_search is not None:
        selection = tool_search.select(text, limit)
        tools = [{"server": hit.server, "tool": hit.name, "score": round(hit.score, 4)} for hit in selection.hits]
    result = {"servers": servers, "tools": tools}

    def render(data: dict[str, Any]) -> None:
        _table(f"servers matching {text!r}", data["servers"])
        if data["tools"]:
            print_table(
                "tools by meaning",
                ["server", "tool", "score"],
                [[t["server"], t["tool"], t["score"]] for t in data["tools"]],
            )

    emit(result, as_json, render)
