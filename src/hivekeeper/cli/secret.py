"""``hivekeeper secret set|get|list|rm``: manage the secrets servers receive as environment variables."""

from __future__ import annotations

import sys

import typer

from hivekeeper.cli.output import JsonOption, console, emit, print_table
from hivekeeper.errors import ConfigError
from hivekeeper.secrets import default_store

secret_app = typer.Typer(
    help="Manage secrets (encrypted file, or HIVEKEEPER_SECRET_* variables).", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(secret_app, name="secret")


@secret_app.command("set")
def set_secret(name: str = typer.Argument(..., help="Secret name, e.g. github-token.")) -> None:
    """Store a secret. The value is read from stdin (piped) or prompted for, never taken as an argument."""
    if sys.stdin.isatty():
        value = typer.prompt(f"Value for {name}", hide_input=True, confirmation_prompt=True)
    else:
        value = sys.stdin.read()
        value = value[:-1] if value.endswith("\n") else value
    if not value:
        raise ConfigError(f"secret {name!r}: empty value")
    default_store().set(name, value)
    console.print(f"secret [bold]{name}[/] stored", highlight=False)


@secret_app.command("get")
def get_secret(name: str) -> None:
    """Print a secret's value."""
    sys.stdout.write(default_store().get(name) + "\n")


@secret_app.command("list")
def list_secrets(as_json: bool = JsonOption) -> None:
    """List secret names and where each comes from (never values)."""
    entries = [{"name": name, "provider": provider} for name, provider in default_store().entries()]
    emit(entries, as_json, lambda rows: print_table(None, ["NAME", "PROVIDER"], [r.values() for r in rows]))


@secret_app.command("rm")
def remove_secret(name: str) -> None:
    """Delete a secret from the encrypted store."""
    default_store().remove(name)
    console.print(f"secret [bold]{name}[/] removed", highlight=False)
