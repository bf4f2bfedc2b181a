"""Syncing curated entries into the registry from a local file, a git repository or another registry.

A sync is idempotent: each entry is compared by content hash and only new or changed ones are written.
A bad entry is rejected with its reason and does not stop the others; a source that cannot be read
changes nothing (entries it supplied earlier stay as they are).
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx

from hivekeeper.config import parse_document
from hivekeeper.errors import HivekeeperError, UnavailableError
from hivekeeper.registry.settings import SyncSource
from hivekeeper.registry.store import ImportOutcome, RegistryStore

MAX_UPSTREAM_PAGES = 10_000

Candidate = tuple[str, Any]  # (where it came from, the document)


@dataclass
class SyncReport:
    source: str
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (where, reason)
    error: str | None = None
    revision: str | None = None  # git commit synced, when the source is a repository

    @property
    def ok(self) -> bool:
        return self.error is None and not self.rejected

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": [{"where": where, "reason": reason} for where, reason in self.rejected],
            "error": self.error,
            "revision": self.revision,
        }


class SourceError(UnavailableError):
    """The source itself could not be read (missing file, unreachable URL, failed clone)."""


def _documents_in(data: Any, where: str) -> Iterator[Candidate]:
    """A file may hold one server.json, a list of them, or a registry-style ``{"servers": [...]}``."""
    if isinstance(data, dict) and isinstance(data.get("servers"), list):
        data = data["servers"]
    if isinstance(data, list):
        for index, item in enumerate(data):
            document = item.get("server") if isinstance(item, dict) and "server" in item else item
            yield f"{where}[{index}]", document
    else:
        yield where, data


def _read_path(path: Path, label: str) -> Iterator[Candidate]:
    if path.is_dir():
        files = sorted(item for item in path.rglob("*") if item.suffix in {".json", ".yaml", ".yml"} and item.is_file())
    elif path.is_file():
        files = [path]
    else:
        raise SourceError(f"{label}: {path} does not exist")
    for file in files:
        where = str(file.relative_to(path)) if path.is_dir() else file.name
        try:
            data = parse_document(file.read_text(encoding="utf-8"), where)
        except (HivekeeperError, UnicodeDecodeError, OSError) as exc:
            yield where, _Unreadable(str(exc))
            continue
        yield from _documents_in(data, where)


@dataclass(frozen=True)
class _Unreadable:
    reason: str


def _file_candidates(source: SyncSource, _: SyncReport) -> Iterator[Candidate]:
    yield from _read_path(Path(source.location).expanduser(), source.name)


def _git(*args: str, cwd: Path | None = None) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
    except FileNotFoundError as exc:
        raise SourceError("git is not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise SourceError(f"git {args[0]} timed out") from exc
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["failed"])[-1]
        raise SourceError(f"git {args[0]}: {last}")
    return done.stdout.strip()


def _git_candidates(source: SyncSource, report: SyncReport) -> Iterator[Candidate]:
    with tempfile.TemporaryDirectory(prefix="hk-sync-") as folder:
        checkout = Path(folder) / "repo"
        clone = ["clone", "--quiet", "--depth", "1", "--no-tags"]
        if source.ref:
            clone += ["--branch", source.ref]
        _git(*clone, "--", source.location, str(checkout))
        report.revision = _git("rev-parse", "HEAD", cwd=checkout)
        target = (checkout / source.path).resolve()
        if not target.is_relative_to(checkout.resolve()):
            raise SourceError(f"{source.name}: path {source.path!r} leaves the repository")
        yield from _read_path(target, source.name)


def _registry_candidates(source: SyncSource, _: SyncReport) -> Iterator[Candidate]:
    base = source.location.rstrip("/")
    cursor: str | None = None
    seen: set[str] = set()
    with httpx.Client(timeout=15.0) as client:
        for page in range(MAX_UPSTREAM_PAGES):
            params = {"limit": "100", **({"cursor": cursor} if cursor else {})}
            try:
                response = client.get(f"{base}/v0.1/servers", params=params)
                response.raise_for_status()
                body = response.json()
            except (httpx.HTTPError, ValueError) as exc:
                raise SourceError(f"{source.name}: {base} unreachable or not a registry: {exc}") from exc
            if not isinstance(body, dict) or not isinstance(body.get("servers"), list):
                raise SourceError(f"{source.name}: {base} did not answer with a server list")
            yield from _documents_in(body["servers"], f"page{page}")
            cursor = (body.get("metadata") or {}).get("nextCursor")
            if not cursor or cursor in seen:
                return
            seen.add(cursor)


_READERS: dict[str, Callable[[SyncSource, SyncReport], Iterator[Candidate]]] = {
    "file": _file_candidates,
    "git": _git_candidates,
    "registry": _registry_candidates,
}


def sync_source(store: RegistryStore, source: SyncSource) -> SyncReport:
    """Import every entry of ``source``; bad entries are reported, never fatal."""
    report = SyncReport(source=source.name)
    origin = f"sync:{source.name}"
    try:
        # Read the whole source first: a source that fails half-way must not leave half an import.
        candidates = list(_READERS[source.kind](source, report))
    except SourceError as exc:
        report.error = exc.message
        return report
    readable = [(where, document) for where, document in candidates if not isinstance(document, _Unreadable)]
    report.rejected += [(where, document.reason) for where, document in candidates if isinstance(document, _Unreadable)]
    results = store.import_entries([document for _, document in readable], tier=source.tier, source=origin)
    for (where, _), result in zip(readable, results, strict=True):
        if isinstance(result, HivekeeperError):
            report.rejected.append((where, result.message))
            continue
        outcome, entry = result
        label = f"{entry.name}@{entry.version}"
        if outcome is ImportOutcome.CREATED:
            report.created.append(label)
        elif outcome is ImportOutcome.UPDATED:
            report.updated.append(label)
        else:
            report.unchanged += 1
    return report


def sync_all(store: RegistryStore, sources: list[SyncSource]) -> list[SyncReport]:
    return [sync_source(store, source) for source in sources]


def source_from_location(location: str, *, name: str | None = None, **options: Any) -> SyncSource:
    """Guess the kind of a source from how it is written: http(s) → registry, git URL or .git → git, else file."""
    kind: Literal["file", "git", "registry"]
    if location.startswith(("http://", "https://")) and not location.endswith(".git"):
        kind = "registry"
    elif (
        location.startswith(("git+", "git@", "ssh://"))
        or location.endswith(".git")
        or (Path(location) / ".git").is_dir()
    ):
        kind = "git"
        location = location.removeprefix("git+")
    else:
        kind = "file"
    label = name or Path(location.rstrip("/")).name.removesuffix(".git") or "source"
    safe = "".join(char if char.isalnum() or char in "._-" else "-" for char in label)[:100]
    return SyncSource(name=safe, kind=kind, location=location, **options)


__all__ = ["SourceError", "SyncReport", "source_from_location", "sync_all", "sync_source"]
