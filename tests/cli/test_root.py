import subprocess
import sys

from typer.testing import CliRunner

from hivekeeper import __version__
from hivekeeper.cli.app import app


def test_version_flag() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"hivekeeper {__version__}"


def test_unknown_command_is_usage_error() -> None:
    result = CliRunner().invoke(app, ["no-such-command"])
    assert result.exit_code == 2


def test_config_error_names_the_field(tmp_path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("unexpected_key: 1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "hivekeeper", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "unexpected_key" in proc.stderr


def test_errors_are_one_literal_line(tmp_path) -> None:
    config = tmp_path / "bad.yaml"
    long_key = "k" * 150 + "[bold]"
    config.write_text(f"{long_key}: 1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "hivekeeper", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and long_key in lines[0]
