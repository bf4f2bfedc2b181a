"""Where a workload's server comes from, and getting it ready to start.

SOURCE forms of ``hivekeeper run``: a local command, ``uvx://PACKAGE[@VERSION]``, ``npx://PACKAGE[@VERSION]``,
a container image (docker/podman runtimes), a remote ``https://…/mcp`` URL, or — through a resolver that
the registry registers with ``register_resolver`` — a registry name.

uvx/npx packages are installed *outside* the sandbox, once, into the server's own folder of the cache (a
venv on the system Python, filled by uv — or pip where uv is missing — or an ``npm install --prefix``),
and the sandbox sees that folder read-only: the server cannot modify its own code. A package from the
registry is installed only from the one file whose sha256 its entry pins (see ``workloads.pinning``).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from hivekeeper.errors import ConfigError, NotFoundError, UnavailableError
from hivekeeper.runtime.base import Mount
from hivekeeper.runtime.mounts import package_cache, package_cache_mount
from hivekeeper.workloads.pinning import ArtifactCheck

SourceKind = Literal["command", "uvx", "npx", "image", "remote"]
CONTAINER_RUNTIMES = ("docker", "podman")
_PACKAGE = re.compile(r"^(?P<package>@?[A-Za-z0-9][\w.\-/]*?)(?:@(?P<version>[\w.\-+!=<>~^*]+))?$")


@dataclass(frozen=True)
class RegistryMatch:
    """What a registry resolver says a name means: a concrete source plus defaults for the workload."""

    source: str
    args: Sequence[str] = ()
    env: dict[str, str] = field(default_factory=dict)
    profile: str | None = None
    allow_hosts: Sequence[str] = ()  # the entry's outbound allowlist (``--allow-host`` rules), part of its profile
    reference: str | None = None  # NAME@VERSION of the entry matched, when the resolver knows it


Resolver = Callable[[str, str | None], RegistryMatch | None]
"""Called with a SOURCE and the registry database to look it up in (None: this machine's registry)."""
_resolvers: list[Resolver] = []


def register_resolver(resolver: Resolver) -> Callable[[], None]:
    """Let ``hivekeeper run NAME`` resolve registry names (asked in registration order); returns the undo."""
    if resolver not in _resolvers:
        _resolvers.append(resolver)
    return lambda: _resolvers.remove(resolver) if resolver in _resolvers else None


def resolve_registry_name(text: str, database: str | None = None) -> RegistryMatch | None:
    for resolver in _resolvers:
        match = resolver(text, database)
        if match is not None:
            return match
    return None


def source_kind(source: str, runtime: str) -> SourceKind:
    """Classify a (concrete, already resolved) SOURCE string."""
    if source.startswith(("https://", "http://")):
        return "remote"
    if source.startswith("uvx://"):
        return "uvx"
    if source.startswith("npx://"):
        return "npx"
    if runtime in CONTAINER_RUNTIMES:
        return "image"
    return "command"


def locate_command(executable: str, workdir: Path) -> str | None:
    """The absolute path of a local executable: a path relative to ``workdir``, or a name on PATH."""
    if "/" in executable:
        # abspath, not resolve(): a venv's bin/python is a symlink whose location is what makes it the venv's
        candidate = os.path.abspath(workdir / executable)
        return candidate if os.path.isfile(candidate) and os.access(candidate, os.X_OK) else None
    return shutil.which(executable)


def unknown_source(source: str, database: str | None = None) -> NotFoundError:
    """``database``: the registry database that was asked, when not this machine's."""
    registry = f"an entry of the registry at {database}" if database else "a registry name"
    return NotFoundError(
        f"unknown source {source!r}: not {registry}, an https:// URL, uvx://PACKAGE, npx://PACKAGE, "
        "or an executable on PATH (a container image needs --runtime docker|podman)"
    )


def split_package(source: str) -> tuple[str, str | None]:
    """``uvx://mcp-server-time@1.0.0`` → (``mcp-server-time``, ``1.0.0``); npm scopes keep their ``@``."""
    text = source.split("://", 1)[1]
    match = _PACKAGE.match(text)
    if not match:
        raise ConfigError(f"source {source!r}: expected {source.split('://')[0]}://PACKAGE[@VERSION]")
    return match["package"], match["version"]


@dataclass(frozen=True)
class Prepared:
    """A source made runnable: what to execute and what extra read-only folders it needs."""

    command: tuple[str, ...]
    mounts: tuple[Mount, ...] = ()


_install_locks: dict[str, asyncio.Lock] = {}


async def prepare_package(
    workload: str, source: str, args: Sequence[str], *, verify: ArtifactCheck | None = None
) -> Prepared:
    """Install a uvx:// or npx:// package into the workload's own cache folder (once per source) and
    return how to run it inside a sandbox.

    With ``verify`` (a registry server), the package file is downloaded and checked before it is installed,
    and a later start re-checks the digest recorded at install time.
    """
    kind = source.split("://", 1)[0]
    package, version = split_package(source)
    root = package_cache(workload)
    async with _install_locks.setdefault(workload, asyncio.Lock()):
        marker = root / ".hivekeeper-entry"
        installed = json.loads(marker.read_text()) if marker.exists() else None
        if installed is None or installed["source"] != source or (verify is not None and not installed.get("sha256")):
            # Install in place (console scripts record their absolute interpreter path); the marker, written
            # last, says the folder is complete, and a failed install leaves an empty folder behind.
            _empty(root)
            try:
                installed = await _install(kind, root, package, version, verify)
                marker.write_text(json.dumps({"source": source, **installed}))
            except BaseException:
                _empty(root)
                raise
        elif verify is not None:
            verify(installed["sha256"])
    return Prepared(command=(*installed["command"], *args), mounts=(package_cache_mount(workload),))


async def _install(
    kind: str, root: Path, package: str, version: str | None, verify: ArtifactCheck | None
) -> dict[str, Any]:
    """Install ``package`` into ``root``: ``{"command": [...]}`` plus the verified ``sha256`` when checked."""
    installer = _install_python if kind == "uvx" else _install_node
    pin = "==" if kind == "uvx" else "@"  # pip's and npm's way of naming one exact version
    spec = f"{package}{pin}{version}" if version else package
    if verify is None:
        return {"command": await installer(root, package, spec)}
    from hivekeeper.registry.supply import file_sha256

    with tempfile.TemporaryDirectory(prefix="hivekeeper-artifact-") as folder:
        download = _download_wheel if kind == "uvx" else _download_tarball
        artifact = await download(Path(folder), package, spec)
        sha256 = await asyncio.to_thread(file_sha256, artifact)
        verify(sha256)  # refuses before a single file of the package is installed
        return {"command": await installer(root, package, str(artifact)), "sha256": sha256}


async def _download_wheel(folder: Path, package: str, requirement: str) -> Path:
    """The one file pip would install for ``requirement`` (no dependencies), e.g. the pinned wheel."""
    await _run_installer(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            "--disable-pip-version-check",
            "--no-input",
            "--dest",
            str(folder),
            requirement,
        ],
        f"uvx://{package}",
    )
    return _only_file(folder, f"uvx://{package}")


async def _download_tarball(folder: Path, package: str, spec: str) -> Path:
    """The package's registry tarball, as ``npm install`` would fetch it."""
    npm = shutil.which("npm")
    if npm is None:
        raise UnavailableError("npx:// sources need node and npm on PATH (apt install nodejs npm)")
    await _run_installer([npm, "pack", "--silent", "--pack-destination", str(folder), spec], f"npx://{package}")
    return _only_file(folder, f"npx://{package}")


def _only_file(folder: Path, what: str) -> Path:
    files = [path for path in folder.iterdir() if path.is_file()]
    if len(files) != 1:
        raise NotFoundError(f"{what}: expected one downloaded package file, found {len(files)}")
    return files[0]


def remove_package_cache(workload: str) -> None:
    shutil.rmtree(package_cache(workload), ignore_errors=True)


def _empty(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)


async def _run_installer(argv: Sequence[str], what: str) -> None:
    process = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await process.communicate()
    if process.returncode != 0:
        lines = [line for line in output.decode(errors="replace").splitlines() if line.strip()]
        reason = lines[-1].strip() if lines else f"exit code {process.returncode}"
        raise NotFoundError(f"{what}: install failed: {reason}")


def _base_python() -> str:
    # The system interpreter lives under /usr, which every sandbox sees read-only; a pyenv or venv
    # interpreter elsewhere would be invisible inside it.
    for candidate in ("/usr/bin/python3", getattr(sys, "_base_executable", ""), sys.executable):
        if candidate and Path(candidate).exists():
            return candidate
    raise UnavailableError("no Python interpreter found for uvx:// sources")


def _uv() -> str | None:
    """uv (the PyPI package ships the binary) installs ~10x faster than pip; pip remains the fallback."""
    try:
        from uv import find_uv_bin
    except ImportError:
        return shutil.which("uv")
    return str(find_uv_bin())


async def _install_python(root: Path, package: str, requirement: str) -> list[str]:
    """``requirement`` is a pip requirement or the path of an already downloaded (verified) package file."""
    what = f"uvx://{package}"
    python = str(root / "bin" / "python")
    uv = _uv()
    if uv is not None:
        await _run_installer([uv, "venv", "--quiet", "--allow-existing", "--python", _base_python(), str(root)], what)
        await _run_installer(
            [uv, "pip", "install", "--quiet", "--compile-bytecode", "--python", python, requirement], what
        )
    else:
        await _run_installer([_base_python(), "-m", "venv", "--without-pip", "--clear", str(root)], what)
        await _run_installer(
            [
                sys.executable,
                "-m",
                "pip",
                "--python",
                python,
                "install",
                "-q",
                "--disable-pip-version-check",
                "--no-input",
                requirement,
            ],
            what,
        )
    scripts = root / "bin"
    wanted = re.sub(r"[_.]+", "-", package.split("[")[0]).lower()
    candidates = sorted(
        path.name
        for path in scripts.iterdir()
        if path.is_file() and not path.name.startswith(("python", "activate", "deactivate", "pip", "Activate"))
    )
    name = wanted if wanted in candidates else (candidates[0] if len(candidates) == 1 else None)
    if name is None:
        raise NotFoundError(f"{what}: no console script named {wanted!r} (found: {', '.join(candidates) or 'none'})")
    return [str(scripts / name)]


async def _install_node(root: Path, package: str, spec: str) -> list[str]:
    """``spec`` is ``PACKAGE[@VERSION]`` or the path of an already downloaded (verified) tarball."""
    what = f"npx://{package}"
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        raise UnavailableError("npx:// sources need node and npm on PATH (apt install nodejs npm)")
    await _run_installer(
        [npm, "install", "--prefix", str(root), "--no-audit", "--no-fund", "--loglevel=error", "--omit=dev", spec], what
    )
    manifest = json.loads((root / "node_modules" / package / "package.json").read_text())
    bins = manifest.get("bin")
    script: str | None
    if isinstance(bins, str):
        script = bins
    elif isinstance(bins, dict) and bins:
        short = package.rsplit("/", 1)[-1]
        script = bins.get(short) or (next(iter(bins.values())) if len(bins) == 1 else None)
        if script is None:
            raise NotFoundError(f"{what}: several executables ({', '.join(bins)}), none named {short!r}")
    else:
        raise NotFoundError(f"{what}: the package declares no executable (package.json 'bin')")
    return [node, str((root / "node_modules" / package / script).resolve())]
