"""``hivekeeper gateway --config FILE``: one governed MCP endpoint in front of a group of servers."""

from __future__ import annotations

from pathlib import Path

import typer

from hivekeeper.cli.output import console


def register(app: typer.Typer) -> None:
    app.command("gateway")(gateway)


def gateway(
    config: Path = typer.Option(..., "--config", "-c", help="Gateway YAML config (backends, auth, policies…)."),
    host: str = typer.Option("127.0.0.1", help="Address to bind; loopback unless you mean it."),
    port: int = typer.Option(8090, help="TCP port."),
) -> None:
    """Serve the backends of CONFIG as one MCP server at /mcp, with auth, Cedar, audit and telemetry."""
    import uvicorn

    from hivekeeper.config import load_model
    from hivekeeper.gateway.app import Gateway
    from hivekeeper.gateway.config import GatewayConfig

    settings = load_model(config, GatewayConfig).relative_to(config.resolve().parent)
    application = Gateway(settings, reload_on_sighup=True).app()
    console.print(f"hivekeeper gateway {settings.name} serving on [bold]http://{host}:{port}/mcp[/]", highlight=False)
    uvicorn.run(application, host=host, port=port, log_level="warning", lifespan="on", loop="uvloop")
