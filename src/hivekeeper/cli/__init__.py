"""The ``hivekeeper`` command line (typer + rich)."""
