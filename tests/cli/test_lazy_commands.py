"""The lazy command table and the modules' own registrations must agree."""

from __future__ import annotations

from collections import defaultdict

from typer.testing import CliRunner

from hivekeeper.cli.app import COMMANDS, app, load_module_commands


def test_command_table_matches_what_each_module_registers() -> None:
    by_module: dict[str, set[str]] = defaultdict(set)
    for command, module in COMMANDS.items():
        by_module[module].add(command)
    for module, commands in by_module.items():
        assert set(load_module_commands(module)) == commands, module


def test_help_lists_every_command() -> None:
    result = CliRunner().invoke(app, ["--help"], terminal_width=200)
    assert result.exit_code == 0
    for command in COMMANDS:
        assert command in result.output
