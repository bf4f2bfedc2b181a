"""Client auto-configuration on real sample config files: entries land where each client reads them and
every other byte of the user's file survives."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hivekeeper.clients import BY_ID, CLIENTS, Endpoint, Environment, register, remove, status, sync_clients
from hivekeeper.clients.manager import BACKUP_SUFFIX, sync
from hivekeeper.errors import ConfigError, ConflictError, NotFoundError

SAMPLES = Path(__file__).parent / "samples"
SAMPLE_OF = {
    "claude-code": "claude-code.json",
    "claude-desktop": "claude-desktop.json",
    "cursor": "cursor.json",
    "vscode": "vscode.jsonc",
    "windsurf": "windsurf.json",
    "cline": "cline.json",
    "continue": "continue.yaml",
    "goose": "goose.yaml",
    "gemini-cli": "gemini-cli.json",
    "codex": "codex.toml",
    "zed": "zed.jsonc",
    "opencode": "opencode.jsonc",
}
ECHO = Endpoint("echo", "http://127.0.0.1:9001/mcp")


@pytest.fixture
def env(tmp_path: Path, hivekeeper_home: Path) -> Environment:
    return Environment(platform="linux", home=tmp_path / "home", env={})


def place_sample(client_id: str, env: Environment) -> tuple[Path, str]:
    client = BY_ID[client_id]
    # opencode reads opencode.jsonc when present: this user keeps JSONC
    jsonc_path = env.home / ".config" / "opencode" / "opencode.jsonc"
    path = jsonc_path if client_id == "opencode" else client.config_path(env)
    path.parent.mkdir(parents=True, exist_ok=True)
    original = (SAMPLES / SAMPLE_OF[client_id]).read_text()
    path.write_text(original)
    assert client.config_path(env) == path
    return path, original


def test_every_supported_client_has_a_sample() -> None:
    assert {client.id for client in CLIENTS} == set(SAMPLE_OF)


@pytest.mark.parametrize("client_id", list(SAMPLE_OF))
def test_register_update_remove_keeps_everything_else(client_id: str, env: Environment) -> None:
    client = BY_ID[client_id]
    path, original = place_sample(client_id, env)
    others_before = client.format.entries(original)
    assert others_before or client_id == "windsurf", "samples carry the user's own servers"

    register([client_id], [ECHO], environment=env)
    text = path.read_text()
    entries = client.format.entries(text)
    assert entries["echo"] == client.entry(ECHO)
    assert {k: v for k, v in entries.items() if k != "echo"} == others_before
    assert (path.with_name(path.name + BACKUP_SUFFIX)).read_text() == original

    moved = Endpoint("echo", "http://127.0.0.1:9002/mcp")
    register([client_id], [moved], environment=env)
    assert client.format.entries(path.read_text())["echo"] == client.entry(moved)

    assert remove([client_id], environment=env) == [client_id]
    assert path.read_text() == original, "removing hivekeeper's entry restores the user's file byte for byte"


@pytest.mark.parametrize("client_id", ["vscode", "goose", "codex", "continue"])
def test_registering_twice_changes_nothing(client_id: str, env: Environment) -> None:
    path, _ = place_sample(client_id, env)
    register([client_id], [ECHO], environment=env)
    first = path.read_text()
    backup = path.with_name(path.name + BACKUP_SUFFIX)
    backup.unlink()
    register([client_id], [ECHO], environment=env)
    assert path.read_text() == first
    assert not backup.exists(), "an edit that changes nothing must not rewrite the file"


@pytest.mark.parametrize(
    ("client_id", "broken", "line"),
    [
        ("vscode", '{\n  "servers": {\n    "a": {"command": "x"}\n    "b": {}\n  }\n}\n', 4),
        ("goose", "extensions:\n  dev:\n    enabled: true\n   bad: [\n", 4),
        ("codex", 'model = "x"\n[mcp_servers.a\ncommand = "y"\n', 2),
    ],
)
def test_unparsable_file_is_left_untouched_and_reported_with_its_line(
    client_id: str, broken: str, line: int, env: Environment
) -> None:
    path = BY_ID[client_id].config_path(env)
    path.parent.mkdir(parents=True)
    path.write_text(broken)
    with pytest.raises(ConfigError) as info:
        register([client_id], [ECHO], environment=env)
    assert f"line {line}" in str(info.value)
    assert str(path) in str(info.value)
    assert path.read_text() == broken
    assert not path.with_name(path.name + BACKUP_SUFFIX).exists()


def test_missing_file_is_created_with_only_our_entry(env: Environment) -> None:
    register(["cursor", "codex", "continue"], [ECHO], environment=env)
    assert json.loads(BY_ID["cursor"].config_path(env).read_text()) == {"mcpServers": {"echo": {"url": ECHO.url}}}
    assert BY_ID["codex"].format.entries(BY_ID["codex"].config_path(env).read_text()) == {"echo": {"url": ECHO.url}}
    continue_entries = BY_ID["continue"].format.entries(BY_ID["continue"].config_path(env).read_text())
    assert continue_entries == {"echo": {"type": "streamable-http", "url": ECHO.url}}


def test_file_mode_is_kept(env: Environment) -> None:
    path, _ = place_sample("claude-code", env)
    os.chmod(path, 0o640)
    register(["claude-code"], [ECHO], environment=env)
    assert path.stat().st_mode & 0o777 == 0o640


def test_users_own_entry_with_the_same_name_is_a_conflict(env: Environment) -> None:
    path, original = place_sample("cursor", env)
    with pytest.raises(ConflictError, match="sentry"):
        register(["cursor"], [Endpoint("sentry", "http://127.0.0.1:1/mcp")], environment=env)
    assert path.read_text() == original
    register(["cursor"], [Endpoint("sentry", "http://127.0.0.1:1/mcp")], force=True, environment=env)
    assert BY_ID["cursor"].format.entries(path.read_text())["sentry"] == {"url": "http://127.0.0.1:1/mcp"}


def test_unknown_client_is_named(env: Environment) -> None:
    with pytest.raises(NotFoundError, match="notepad"):
        register(["notepad"], [ECHO], environment=env)


def test_all_means_every_detected_client(env: Environment) -> None:
    (env.home / ".cursor").mkdir(parents=True)
    (env.home / ".config" / "goose").mkdir(parents=True)
    done = register(["all"], [ECHO], environment=env)
    assert sorted(r.client for r in done) == ["cursor", "goose"]


def test_status_reports_drift_when_the_user_deleted_our_entry(env: Environment) -> None:
    path, _ = place_sample("gemini-cli", env)
    register(["gemini-cli"], [ECHO, Endpoint("git", "http://127.0.0.1:9003/mcp")], environment=env)
    path.write_text(BY_ID["gemini-cli"].format.remove_entry(path.read_text(), "git"))
    (gemini,) = [s for s in status(env) if s.client.id == "gemini-cli"]
    assert gemini.as_dict()["missing"] == ["git"]
    assert gemini.present == {"echo": ECHO.url}


def test_sync_follows_workloads_and_skips_broken_files(env: Environment) -> None:
    place_sample("vscode", env)
    goose_path, _ = place_sample("goose", env)
    register(["vscode", "goose"], [ECHO], environment=env)
    goose_path.write_text("extensions: [\n")  # the user broke it meanwhile
    running = [Endpoint("git", "http://127.0.0.1:9004/mcp")]
    sync(lambda group: running, environment=env)
    vscode_entries = BY_ID["vscode"].format.entries(BY_ID["vscode"].config_path(env).read_text())
    assert "echo" not in vscode_entries and vscode_entries["git"] == {"type": "http", "url": running[0].url}
    assert goose_path.read_text() == "extensions: [\n"


def test_sync_clients_without_running_workloads_empties_our_entries(env: Environment) -> None:
    path, original = place_sample("zed", env)
    register(["zed"], [ECHO], environment=env)
    sync_clients(env)
    assert path.read_text() == original


@pytest.mark.parametrize(
    ("platform", "client_id", "expected"),
    [
        ("darwin", "claude-desktop", "Library/Application Support/Claude/claude_desktop_config.json"),
        ("darwin", "vscode", "Library/Application Support/Code/User/mcp.json"),
        ("win32", "claude-desktop", "AppData/Roaming/Claude/claude_desktop_config.json"),
        ("win32", "goose", "AppData/Roaming/Block/goose/config/config.yaml"),
        ("linux", "cline", ".config/Code/User/globalStorage/saoudrizwan.claude-dev/settings/cline_mcp_settings.json"),
        ("darwin", "zed", ".config/zed/settings.json"),
    ],
)
def test_config_paths_per_platform(platform: str, client_id: str, expected: str, tmp_path: Path) -> None:
    home = tmp_path / "h"
    env = Environment(platform=platform, home=home, env={"APPDATA": str(home / "AppData" / "Roaming")})
    assert BY_ID[client_id].config_path(env) == home / expected


def test_cli_register_status_remove(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".cursor").mkdir(parents=True)
    environment = {**os.environ, "HOME": str(home), "HIVEKEEPER_HOME": str(tmp_path / "hk")}
    environment.pop("XDG_CONFIG_HOME", None)

    def hk(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hivekeeper", "client", *args],
            capture_output=True,
            text=True,
            env=environment,
            timeout=60,
        )

    done = hk("register", "cursor", "--url", "http://127.0.0.1:8080/mcp", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [
        {"client": "cursor", "group": None, "entries": {"hivekeeper": "http://127.0.0.1:8080/mcp"}}
    ]
    listed = json.loads(hk("list", "--json").stdout)
    cursor = next(item for item in listed if item["client"] == "cursor")
    assert (
        cursor["detected"] and cursor["registered"] and cursor["entries"] == {"hivekeeper": "http://127.0.0.1:8080/mcp"}
    )
    assert [item["client"] for item in json.loads(hk("status", "--json").stdout)] == ["cursor"]
    bad = hk("register", "cursor", "--url", "ftp://x")
    assert bad.returncode == 2 and "--url" in bad.stderr
    unknown = hk("register", "emacs", "--url", "http://127.0.0.1:1/mcp")
    assert unknown.returncode == 3 and "emacs" in unknown.stderr
    assert hk("remove", "cursor").returncode == 0
    assert json.loads((home / ".cursor" / "mcp.json").read_text()) == {"mcpServers": {}}
