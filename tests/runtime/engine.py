"""Real container engines for tests and benchmarks: a private dockerd (Debian's docker.io) or Podman
API service, and an image built offline from this host's shared libraries.

Each engine gets its own socket, data and exec roots; dockerd runs without bridge, iptables or
forwarding, so neither touches the host's network. The image holds only the C libraries a CPython needs; the
interpreter, the venv and the fixtures are bind-mounted read-only at their host paths (as the sandbox
runtime does), so building takes a second and the image is cached in the daemon's data root.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

IMAGE_REPOSITORY = "hivekeeper-test/pylibs"


@dataclass(frozen=True)
class EngineKind:
    name: str
    package: str
    socket: Path
    data_root: Path
    exec_root: Path

    @property
    def base_url(self) -> str:
        return f"unix://{self.socket}"

    def command(self, binary: str) -> list[str]:
        if self.name == "dockerd":
            return [
                binary, "--iptables=false", "--ip6tables=false", "--ip-forward=false", "--ip-masq=false",
                "--bridge=none", "--data-root", str(self.data_root), "--exec-root", str(self.exec_root),
                "--pidfile", str(self.exec_root / "dockerd.pid"), "-H", self.base_url,
            ]  # fmt: skip
        # Podman on hybrid-cgroup hosts: cgroupfs manager, file events, runc (crun fails there).
        return [
            binary, "--root", str(self.data_root), "--runroot", str(self.exec_root),
            "--cgroup-manager=cgroupfs", "--events-backend=file", "--runtime", "runc",
            "system", "service", "--time=0", self.base_url,
        ]  # fmt: skip


DOCKER = EngineKind(
    "dockerd",
    "docker.io",
    Path("/run/hivekeeper-test-docker.sock"),
    Path("/var/lib/hivekeeper-test-docker"),
    Path("/run/hivekeeper-test-docker"),
)
PODMAN = EngineKind(
    "podman",
    "podman",
    Path("/run/hivekeeper-test-podman.sock"),
    Path("/var/lib/hivekeeper-test-podman"),
    Path("/run/hivekeeper-test-podman"),
)


class EngineUnavailable(Exception):
    pass


def _ping(base_url: str, timeout: float = 2.0) -> bool:
    import docker

    try:
        docker.DockerClient(base_url=base_url, timeout=timeout).ping()
        return True
    except Exception:
        return False


@contextmanager
def container_engine(kind: EngineKind, log_path: Path, timeout: float = 60.0) -> Iterator[str]:
    """Yield the base URL of a running private engine API; stop it afterwards if this call started it."""
    if _ping(kind.base_url):
        yield kind.base_url  # another test session or benchmark owns it
        return
    binary = shutil.which(kind.name)
    if binary is None:
        raise EngineUnavailable(f"{kind.name} is not installed (apt-get install {kind.package})")
    if os.geteuid() != 0:
        raise EngineUnavailable(f"starting {kind.name} needs root")
    kind.socket.unlink(missing_ok=True)
    kind.exec_root.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(kind.command(binary), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout
        while not _ping(kind.base_url):
            if process.poll() is not None or time.monotonic() > deadline:
                state = f"exited with {process.returncode}" if process.poll() is not None else "not ready in time"
                tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
                raise EngineUnavailable(f"{kind.name} {state}: {' | '.join(tail)}")
            time.sleep(0.1)
        yield kind.base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _shared_libraries(binaries: list[Path]) -> set[Path]:
    output = subprocess.run(["ldd", *map(str, binaries)], capture_output=True, text=True, check=False).stdout
    found = set()
    for line in output.splitlines():
        parts = line.split()
        for part in parts:
            if part.startswith("/") and not part.endswith(":"):
                found.add(Path(part))
    return found


def _add_path(tar: tarfile.TarFile, path: Path, added: set[str]) -> None:
    """Add ``path`` under its canonical directory, then whatever its symlink chain points at."""
    while True:
        path = path.parent.resolve() / path.name
        for parent in reversed(path.parents[:-1]):
            _add_dir(tar, str(parent), added)
        name = str(path).lstrip("/")
        if name not in added:
            added.add(name)
            tar.add(path, arcname=name, recursive=False)
        if not path.is_symlink():
            return
        path = path.parent / path.readlink()


def _add_dir(tar: tarfile.TarFile, name: str, added: set[str], mode: int = 0o755) -> None:
    name = name.lstrip("/")
    if name and name not in added:
        added.add(name)
        info = tarfile.TarInfo(name)
        info.type, info.mode = tarfile.DIRTYPE, mode
        tar.addfile(info)


def _add_file(tar: tarfile.TarFile, name: str, content: str) -> None:
    data = content.encode()
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o644
    tar.addfile(info, io.BytesIO(data))


def python_rootfs() -> bytes:
    """A root filesystem with the shared libraries this interpreter and its extension modules load."""
    executable = Path(sys.executable).resolve()
    extensions = list(
        Path(sys.base_prefix, "lib", f"python{sys.version_info.major}.{sys.version_info.minor}", "lib-dynload").glob(
            "*.so"
        )
    )
    # The venv's compiled packages too (pydantic-core needs libgcc_s, which no ldd of python shows).
    extensions += [path for path in Path(sys.prefix).rglob("*.so*") if path.is_file()]
    libraries = sorted(
        path
        for path in _shared_libraries([executable, *extensions])
        if not str(path).startswith((sys.base_prefix, sys.prefix))
    )
    buffer = io.BytesIO()
    added: set[str] = set()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for top in ("bin", "lib", "lib64", "sbin"):
            if Path("/", top).is_symlink():  # merged /usr: keep the same top-level links as the host
                info = tarfile.TarInfo(top)
                info.type, info.linkname = tarfile.SYMTYPE, os.readlink(Path("/", top))
                tar.addfile(info)
                added.add(top)
        for library in libraries:
            _add_path(tar, library, added)
        _add_dir(tar, "tmp", added, mode=0o1777)
        _add_dir(tar, "etc", added)
        _add_file(tar, "etc/passwd", "root:x:0:0::/:/sbin/nologin\nnobody:x:65534:65534::/tmp:/sbin/nologin\n")
        _add_file(tar, "etc/group", "root:x:0:\nnogroup:x:65534:\n")
    return buffer.getvalue()


def ensure_python_image(client: Any) -> str:
    """Tag of the test image, imported once per distinct library set and reused from the engine's cache."""
    rootfs = python_rootfs()
    tag = hashlib.sha256(rootfs).hexdigest()[:16]
    reference = f"{IMAGE_REPOSITORY}:{tag}"
    if not client.images.list(name=reference):
        client.api.import_image_from_data(rootfs, repository=reference)  # "repo:tag" (podman ignores `tag`)
    return reference
