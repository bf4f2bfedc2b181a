"""``hivekeeper serve``: the main job, everything on one port with embedded defaults."""

from __future__ import annotations

import typer

from hivekeeper.cli.output import console


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to bind; loopback unless you mean it."),
    port: int = typer.Option(8080, help="TCP port."),
    config: str | None = typer.Option(None, "--config", "-c", help="hivekeeper YAML config file."),
) -> None:
    """Serve the gateway, registry API and portal on one port (SQLite + local sandbox by default)."""
    import uvicorn

    from hivekeeper.server import build_app, load_server_config

    settings = load_server_config(config)
    application = build_app(settings)
    console.print(f"hivekeeper serving on [bold]http://{host}:{port}/[/]", highlight=False)
    uvicorn.run(application, host=host, port=port, log_level="warning", lifespan="on")
