"""Mounts that make host-installed software usable inside a sandbox, at the same paths as on the host.

Same paths matter: virtualenvs and ``uv``/``npm`` installs embed absolute paths (shebangs, ``pyvenv.cfg``,
symlinks to the interpreter), so they run unchanged when mounted where they were built.
"""

from __future__ import annotations

import re
from pathlib import Path

from hivekeeper import paths
from hivekeeper.runtime.base import Mount

# /usr is already visible (read-only) in every sandbox.
_SYSTEM_PREFIXES = (Path("/usr"),)
_SAFE_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")


def _visible_already(path: Path) -> bool:
    return any(path == prefix or prefix in path.parents for prefix in _SYSTEM_PREFIXES)


def interpreter_mounts(python: Path) -> list[Mount]:
    """Read-only mounts for a Python interpreter outside /usr and, if ``python`` is in a venv, the venv."""
    found: list[Path] = []
    venv = python.parent.parent
    if (venv / "pyvenv.cfg").is_file():
        found.append(venv.absolute())
    installation = python.resolve().parent.parent
    found.append(installation)
    return [Mount(host=path, target=str(path)) for path in dict.fromkeys(found) if not _visible_already(path)]


def package_cache(name: str) -> Path:
    """The per-server directory ``uvx://``/``npx://`` sources install into (outside the sandbox)."""
    if not _SAFE_NAME.match(name):
        raise ValueError(f"not a server name: {name!r}")
    return paths.ensure(paths.cache_dir() / "packages" / name)


def package_cache_mount(name: str) -> Mount:
    """The server's package cache, read-only inside the sandbox at its host path."""
    cache = package_cache(name)
    return Mount(host=cache, target=str(cache), read_only=True)
