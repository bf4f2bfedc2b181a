"""``hivekeeper kube``: render what the operator would create, print the CRDs, run the operator."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import typer

from hivekeeper.cli.output import JsonOption, print_json
from hivekeeper.errors import ConfigError

kube_app = typer.Typer(
    help="Kubernetes: CRDs, manifests the operator creates, the operator itself.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(kube_app, name="kube")


def _print(documents: list[dict[str, Any]], as_json: bool) -> None:
    import yaml

    class PlainDumper(yaml.SafeDumper):
        """No ``&id001`` anchors: manifests are read by people and by tools that dislike aliases."""

        def ignore_aliases(self, data: Any) -> bool:
            return True

    if as_json:
        print_json(documents)
    else:
        typer.echo(yaml.dump_all(documents, Dumper=PlainDumper, sort_keys=False), nl=False)


def _load_documents(path: Path) -> list[dict[str, Any]]:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc
    documents: list[dict[str, Any]] = []
    try:
        raw = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "an unknown position"
        raise ConfigError(f"{path}: not valid YAML at {where}: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    for index, document in enumerate(raw):
        if not isinstance(document, dict):
            raise ConfigError(f"{path}: document {index + 1}: expected a mapping")
        documents.append(document)
    if not documents:
        raise ConfigError(f"{path}: no resources")
    return documents


@kube_app.command("render")
def render_command(
    file: Path = typer.Argument(..., help="YAML with MCPServer/MCPGateway/MCPRegistry resources ('-' not supported)."),
    image: str | None = typer.Option(None, help="The hivekeeper image the pods run (default: this version's)."),
    as_json: bool = JsonOption,
) -> None:
    """Print the manifests the operator would create for the resources in FILE.

    An MCPGateway in FILE selects among the MCPServers in the same FILE.
    """
    from hivekeeper.operator.reconcile import matches
    from hivekeeper.operator.render import RenderOptions, parse, render

    options = RenderOptions(hivekeeper_image=image) if image else RenderOptions()
    documents = _load_documents(file)
    manifests: list[dict[str, Any]] = []
    for index, document in enumerate(documents):
        try:
            parsed = parse(document)
            servers = [
                other
                for other in documents
                if parsed.kind.kind == "MCPGateway"
                and other.get("kind") == "MCPServer"
                and matches(parsed.spec.server_selector, (other.get("metadata") or {}).get("labels") or {})
            ]
            manifests += render(document, servers=servers, options=options)
        except ConfigError as exc:
            name = (document.get("metadata") or {}).get("name", f"document {index + 1}")
            raise ConfigError(f"{file}: {document.get('kind', 'resource')} {name}: {exc.message}") from None
    _print(manifests, as_json)


@kube_app.command("crds")
def crds_command(as_json: bool = JsonOption) -> None:
    """Print the CustomResourceDefinitions (MCPServer, MCPGateway, MCPRegistry)."""
    from hivekeeper.operator.crds import all_crds

    _print(all_crds(), as_json)


@kube_app.command("operator")
def operator_command(
    namespace: list[str] = typer.Option([], "--namespace", "-n", help="Watch only these namespaces (repeatable)."),
    liveness: str | None = typer.Option(None, help="Serve kopf's liveness probe, e.g. http://0.0.0.0:8080/healthz"),
) -> None:
    """Run the operator (in its Deployment, or locally against the current kubeconfig)."""
    import kopf

    from hivekeeper.operator.handlers import build_registry

    kopf.configure(verbose=False)
    asyncio.run(
        kopf.operator(
            registry=build_registry(),
            clusterwide=not namespace,
            namespaces=namespace,
            liveness_endpoint=liveness,
            standalone=True,
        )
    )


@kube_app.command("stdio-pipe", hidden=True)
def stdio_pipe_command(
    directory: Path = typer.Argument(..., help="The shared emptyDir holding the FIFOs 'in' and 'out'."),
    init: bool = typer.Option(False, "--init", help="Only create the FIFOs and exit (init container)."),
) -> None:
    """Bridge this process's stdio to a stdio MCP server in another container (used inside pods)."""
    from hivekeeper.operator import stdio_pipe

    if init:
        stdio_pipe.prepare(directory)
        return
    raise typer.Exit(stdio_pipe.run(directory))
