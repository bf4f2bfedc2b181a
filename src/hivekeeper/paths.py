"""Where hivekeeper keeps its files (XDG base directories, overridable with HIVEKEEPER_HOME)."""

from __future__ import annotations

import os
from pathlib import Path


def _xdg(variable: str, default: str) -> Path:
    value = os.environ.get(variable)
    return Path(value) if value else Path.home() / default


def _home_override(kind: str) -> Path | None:
    home = os.environ.get("HIVEKEEPER_HOME")
    return Path(home) / kind if home else None


def config_dir() -> Path:
    return _home_override("config") or _xdg("XDG_CONFIG_HOME", ".config") / "hivekeeper"


def state_dir() -> Path:
    return _home_override("state") or _xdg("XDG_STATE_HOME", ".local/state") / "hivekeeper"


def data_dir() -> Path:
    return _home_override("data") or _xdg("XDG_DATA_HOME", ".local/share") / "hivekeeper"


def cache_dir() -> Path:
    return _home_override("cache") or _xdg("XDG_CACHE_HOME", ".cache") / "hivekeeper"


def runtime_dir() -> Path:
    override = _home_override("run")
    if override:
        return override
    xdg_runtime = os.environ.get("XDG_RUNTIME_DIR")
    if xdg_runtime:
        return Path(xdg_runtime) / "hivekeeper"
    return state_dir() / "run"


def ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path
