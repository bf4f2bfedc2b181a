"""Root of the ``hivekeeper`` / ``hk`` command. Each part adds its own sub-commands here."""

from __future__ import annotations

import typer

from hivekeeper import __version__
from hivekeeper.cli import serve
from hivekeeper.cli.output import fail
from hivekeeper.errors import ExitCode, HivekeeperError

app = typer.Typer(
    name="hivekeeper",
    help="Run MCP servers isolated, behind one governed gateway.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hivekeeper {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """hivekeeper: MCP servers, safe and cheap to use across an organisation."""


serve.register(app)


def main() -> None:
    try:
        app()
    except HivekeeperError as exc:
        fail(exc.message)
        raise SystemExit(int(exc.exit_code)) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None


__all__ = ["ExitCode", "app", "main"]
