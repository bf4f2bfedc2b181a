"""The AI clients hivekeeper can configure: where each keeps its MCP servers and how an entry looks.

Paths follow each client's own documentation for Linux, macOS and Windows. Entries point the client at a
Streamable HTTP URL; Claude Desktop speaks only stdio to local servers, so its entry runs
``hivekeeper proxy stdio URL``.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hivekeeper.clients.formats import ConfigFormat, JsoncMap, TomlTables, YamlList, YamlMap


@dataclass(frozen=True)
class Endpoint:
    """Something a client should reach: a workload or the gateway."""

    name: str
    url: str


@dataclass(frozen=True)
class Environment:
    """Where to look: the platform, the user's home, and environment variables (testable)."""

    platform: str  # "linux" | "darwin" | "win32"
    home: Path
    env: Mapping[str, str]

    @classmethod
    def current(cls) -> Environment:
        platform = "darwin" if sys.platform == "darwin" else "win32" if sys.platform == "win32" else "linux"
        return cls(platform=platform, home=Path.home(), env=dict(os.environ))

    def config_home(self) -> Path:
        """XDG config dir on Linux, ``~/.config`` elsewhere for tools that use it on every OS."""
        value = self.env.get("XDG_CONFIG_HOME") if self.platform == "linux" else None
        return Path(value) if value else self.home / ".config"

    def app_support(self) -> Path:
        """The per-user application data folder of desktop apps (Electron and the like)."""
        if self.platform == "darwin":
            return self.home / "Library" / "Application Support"
        if self.platform == "win32":
            return Path(self.env.get("APPDATA", str(self.home / "AppData" / "Roaming")))
        return self.config_home()


@dataclass(frozen=True)
class Client:
    id: str
    display: str
    format: ConfigFormat
    config_path: Callable[[Environment], Path]
    # A folder whose presence means the client is installed (its config file may not exist yet).
    marker: Callable[[Environment], Path]
    entry: Callable[[Endpoint], dict[str, Any]]

    def detected(self, environment: Environment) -> bool:
        return self.marker(environment).exists() or self.config_path(environment).exists()


def hivekeeper_command() -> str:
    """Absolute path of the ``hivekeeper`` executable, so a GUI client without our PATH can start it."""
    return shutil.which("hivekeeper") or str(Path(sys.executable).with_name("hivekeeper"))


def _vscode_user(environment: Environment) -> Path:
    return environment.app_support() / "Code" / "User"


def _cline_settings(environment: Environment) -> Path:
    return _vscode_user(environment) / "globalStorage" / "saoudrizwan.claude-dev" / "settings"


def _goose_dir(environment: Environment) -> Path:
    if environment.platform == "win32":
        return environment.app_support() / "Block" / "goose" / "config"
    return environment.home / ".config" / "goose"


def _zed_dir(environment: Environment) -> Path:
    if environment.platform == "win32":
        return environment.app_support() / "Zed"
    if environment.platform == "linux":
        return environment.config_home() / "zed"
    return environment.home / ".config" / "zed"  # Zed uses ~/.config on macOS too


def _opencode_config(environment: Environment) -> Path:
    folder = environment.home / ".config" / "opencode"
    jsonc_file = folder / "opencode.jsonc"
    return jsonc_file if jsonc_file.exists() else folder / "opencode.json"


def _codex_home(environment: Environment) -> Path:
    return Path(environment.env["CODEX_HOME"]) if environment.env.get("CODEX_HOME") else environment.home / ".codex"


CLIENTS: tuple[Client, ...] = (
    Client(
        "claude-code",
        "Claude Code",
        JsoncMap(("mcpServers",)),
        lambda e: e.home / ".claude.json",
        lambda e: e.home / ".claude",
        lambda p: {"type": "http", "url": p.url},
    ),
    Client(
        "claude-desktop",
        "Claude Desktop",
        JsoncMap(("mcpServers",)),
        lambda e: e.app_support() / "Claude" / "claude_desktop_config.json",
        lambda e: e.app_support() / "Claude",
        lambda p: {"command": hivekeeper_command(), "args": ["proxy", "stdio", p.url]},
    ),
    Client(
        "cursor",
        "Cursor",
        JsoncMap(("mcpServers",)),
        lambda e: e.home / ".cursor" / "mcp.json",
        lambda e: e.home / ".cursor",
        lambda p: {"url": p.url},
    ),
    Client(
        "vscode",
        "VS Code",
        JsoncMap(("servers",)),
        lambda e: _vscode_user(e) / "mcp.json",
        _vscode_user,
        lambda p: {"type": "http", "url": p.url},
    ),
    Client(
        "windsurf",
        "Windsurf",
        JsoncMap(("mcpServers",)),
        lambda e: e.home / ".codeium" / "windsurf" / "mcp_config.json",
        lambda e: e.home / ".codeium" / "windsurf",
        lambda p: {"serverUrl": p.url},
    ),
    Client(
        "cline",
        "Cline",
        JsoncMap(("mcpServers",)),
        lambda e: _cline_settings(e) / "cline_mcp_settings.json",
        lambda e: _cline_settings(e).parent,
        lambda p: {"type": "streamableHttp", "url": p.url, "disabled": False},
    ),
    Client(
        "continue",
        "Continue",
        YamlList("mcpServers"),
        lambda e: e.home / ".continue" / "config.yaml",
        lambda e: e.home / ".continue",
        lambda p: {"type": "streamable-http", "url": p.url},
    ),
    Client(
        "goose",
        "Goose",
        YamlMap("extensions"),
        lambda e: _goose_dir(e) / "config.yaml",
        _goose_dir,
        lambda p: {
            "enabled": True,
            "name": p.name,
            "type": "streamable_http",
            "uri": p.url,
            "envs": {},
            "timeout": 300,
        },
    ),
    Client(
        "gemini-cli",
        "Gemini CLI",
        JsoncMap(("mcpServers",)),
        lambda e: e.home / ".gemini" / "settings.json",
        lambda e: e.home / ".gemini",
        lambda p: {"httpUrl": p.url},
    ),
    Client(
        "codex",
        "Codex",
        TomlTables("mcp_servers"),
        lambda e: _codex_home(e) / "config.toml",
        _codex_home,
        lambda p: {"url": p.url},
    ),
    Client(
        "zed",
        "Zed",
        JsoncMap(("context_servers",)),
        lambda e: _zed_dir(e) / "settings.json",
        _zed_dir,
        lambda p: {"url": p.url},
    ),
    Client(
        "opencode",
        "opencode",
        JsoncMap(("mcp",)),
        _opencode_config,
        lambda e: e.home / ".config" / "opencode",
        lambda p: {"type": "remote", "url": p.url, "enabled": True},
    ),
)

BY_ID: dict[str, Client] = {client.id: client for client in CLIENTS}
