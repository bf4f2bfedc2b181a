"""Root of the ``hivekeeper`` / ``hk`` command.

Sub-commands load lazily: ``hivekeeper proxy`` must start in milliseconds and small, so it may not pay
for numpy (search), cryptography (secrets) or SQLAlchemy (registry). Each ``cli/<module>.py`` keeps a
``register(app)`` function; ``COMMANDS`` says which module provides which top-level command, and the
module is imported only when one of its commands runs (or for ``--help``, which lists them all).
"""

from __future__ import annotations

import importlib
from typing import Any

import typer
from typer.core import TyperGroup

from hivekeeper import __version__
from hivekeeper.errors import ExitCode, HivekeeperError

# top-level command -> the hivekeeper.cli module whose register(app) defines it
COMMANDS: dict[str, str] = {
    "serve": "serve",
    "proxy": "proxy",
    "run": "run",
    "list": "run",
    "status": "run",
    "logs": "run",
    "stop": "run",
    "start": "run",
    "restart": "run",
    "rm": "run",
    "export": "run",
    "manager": "run",
    "secret": "secret",
    "gateway": "gateway",
    "tools": "tools",
    "registry": "registry",
    "search": "registry",
    "client": "client",
    "kube": "kube",
    "egress-proxy": "egress",
}


def load_module_commands(module_name: str) -> dict[str, Any]:
    """The click commands one cli module registers, by name."""
    module = importlib.import_module(f"hivekeeper.cli.{module_name}")
    holder = typer.Typer()
    holder.callback()(lambda: None)  # a callback makes typer build a group even for a single command
    module.register(holder)
    if module_name == "tools":  # the gateway's integrity commands live in the same `tools` group
        importlib.import_module("hivekeeper.cli.tools_integrity").register(module.tools_app)
    group = typer.main.get_command(holder)
    assert isinstance(group, TyperGroup)
    return dict(group.commands)


class LazyGroup(TyperGroup):
    def list_commands(self, ctx: Any) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        module_name = COMMANDS.get(cmd_name)
        if module_name is None:
            return None
        return load_module_commands(module_name).get(cmd_name)


app = typer.Typer(
    name="hivekeeper",
    cls=LazyGroup,
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


def main() -> None:
    try:
        app()
    except HivekeeperError as exc:
        from hivekeeper.cli.output import fail  # rich, loaded only to report an error

        fail(exc.message)
        raise SystemExit(int(exc.exit_code)) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None


__all__ = ["COMMANDS", "ExitCode", "app", "main"]
