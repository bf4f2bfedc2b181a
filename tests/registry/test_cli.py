"""``hivekeeper registry …`` and ``hivekeeper search`` against the local database and a registry URL."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from starlette.applications import Starlette
from typer.testing import CliRunner

from hivekeeper.cli.app import app, main
from hivekeeper.errors import HivekeeperError
from tests.registry.conftest import ADMIN_TOKEN, ServerThread, registry_settings, server_json

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    """Run a command as ``hivekeeper.cli.app.main`` does: an expected error becomes its exit code and message."""
    result = runner.invoke(app, list(args))
    if isinstance(result.exception, HivekeeperError):
        return int(result.exception.exit_code), result.output + result.exception.message
    return result.exit_code, result.output


def test_publish_list_info_search_locally(hivekeeper_home: Path, tmp_path: Path) -> None:
    document = tmp_path / "server.json"
    document.write_text(json.dumps(server_json(name="io.github.acme/weather")))
    code, output = invoke("registry", "publish", str(document), "--json")
    assert code == 0, output
    assert json.loads(output)["_meta"]["dev.hivekeeper/curation"]["trustTier"] == "verified"

    code, output = invoke("registry", "list", "--json")
    names = {item["server"]["name"] for item in json.loads(output)}
    assert "io.github.acme/weather" in names and "io.modelcontextprotocol/time" in names  # plus the starter catalogue

    code, output = invoke("registry", "info", "io.github.acme/weather")
    assert code == 0 and "WEATHER_API_KEY" in output and "findings: none" in output
    assert invoke("registry", "info", "io.github.acme/nope")[0] == 3
    assert invoke("registry", "publish", str(document))[0] == 4  # same version again: conflict

    code, output = invoke("search", "current time", "--json")
    found = json.loads(output)
    assert found["tools"][0] == {
        "server": "io.modelcontextprotocol/time",
        "tool": "get_current_time",
        "score": found["tools"][0]["score"],
    }
    code, output = invoke("registry", "search", "weath", "--json")
    assert [item["server"]["name"] for item in json.loads(output)] == ["io.github.acme/weather"]


def test_invalid_server_json_is_a_usage_error_naming_the_field(
    hivekeeper_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    document = tmp_path / "server.yaml"
    document.write_text("name: acme\ndescription: x\nversion: ^1.0\n")
    monkeypatch.setattr(sys, "argv", ["hivekeeper", "registry", "publish", str(document)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    stderr = " ".join(capsys.readouterr().err.split())
    assert "name: 'acme' does not match" in stderr and "version: '^1.0' is a version range" in stderr


def test_sync_reports_rejects_and_exits_1(hivekeeper_home: Path, tmp_path: Path) -> None:
    catalogue = tmp_path / "catalogue.json"
    catalogue.write_text(json.dumps([server_json(name="io.github.acme/a"), {"name": "broken"}]))
    code, output = invoke("registry", "sync", "--source", str(catalogue), "--tier", "verified", "--json")
    assert code == 1
    (report,) = json.loads(output)
    assert report["created"] == ["io.github.acme/a@1.0.0"]
    assert (
        report["rejected"][0]["where"] == "catalogue.json[1]"
        and "description: is required" in report["rejected"][0]["reason"]
    )
    catalogue.write_text(json.dumps([server_json(name="io.github.acme/a")]))
    code, output = invoke("registry", "sync", "--source", str(catalogue), "--tier", "verified", "--json")
    assert code == 0 and json.loads(output)[0]["unchanged"] == 1
    assert invoke("registry", "sync", "--tier", "gold", "--source", str(catalogue))[0] == 2


def test_remote_registry_url(hivekeeper_home: Path, tmp_path: Path) -> None:
    from hivekeeper.registry import open_registry

    registry = open_registry(registry_settings(f"sqlite:///{tmp_path / 'remote.db'}"))
    document = tmp_path / "server.json"
    document.write_text(json.dumps(server_json(name="io.github.acme/remote")))
    with ServerThread(Starlette(routes=registry.api.routes())) as server:
        assert invoke("registry", "publish", str(document), "--url", server.url)[0] == 2  # no token
        code, output = invoke(
            "registry", "publish", str(document), "--url", server.url, "--token", "wrong-token-0123456789"
        )
        assert code == 7 and "invalid or expired registry token" in output
        code, output = invoke("registry", "publish", str(document), "--url", server.url, "--token", ADMIN_TOKEN)
        assert code == 0, output
        code, output = invoke("registry", "list", "--url", server.url, "--json")
        assert [item["server"]["name"] for item in json.loads(output)] == ["io.github.acme/remote"]
    registry.store.close()
    code, output = invoke("registry", "list", "--url", server.url)
    assert code == 5 and "unreachable" in output


def test_bad_or_unreachable_database_is_a_one_line_error(hivekeeper_home: Path) -> None:
    from tests.conftest import free_port

    code, output = invoke("registry", "list", "--database", f"postgresql://hk@127.0.0.1:{free_port()}/registry")
    assert code == 5 and "registry database" in output and "Connection refused" in output
    code, output = invoke("registry", "list", "--database", "not a url")
    assert code == 2 and output.startswith("registry.database_url: not a usable database URL")
