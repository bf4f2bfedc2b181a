"""Registering hivekeeper's endpoints in AI clients' config files, and keeping them current.

Safety rules, in order: a file that does not parse is never touched (the error names its line); each
edit takes a lock, keeps a backup of the previous file and replaces the file atomically with its mode
kept; only entries hivekeeper wrote (recorded in its own state) are ever changed or removed — an entry
of the user's with the same name is a conflict, not something to overwrite.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from hivekeeper import paths
from hivekeeper.clients.catalog import BY_ID, CLIENTS, Client, Endpoint, Environment
from hivekeeper.clients.formats import syntax_error_of
from hivekeeper.errors import ConfigError, ConflictError, HivekeeperError, NotFoundError
from hivekeeper.fileio import write_atomic

BACKUP_SUFFIX = ".hivekeeper.bak"
LOCK_TIMEOUT_SECONDS = 10.0


@dataclass
class Registration:
    """What hivekeeper wrote into one client's config: the group it follows and the entries it owns."""

    client: str
    group: str | None = None
    follows_workloads: bool = True
    entries: dict[str, str] = field(default_factory=dict)  # entry name -> url


@dataclass(frozen=True)
class ClientStatus:
    client: Client
    path: Path
    detected: bool
    registration: Registration | None
    present: dict[str, str]  # owned entry name -> url found in the file (missing ones are drift)
    problem: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "client": self.client.id,
            "name": self.client.display,
            "config": str(self.path),
            "detected": self.detected,
            "registered": self.registration is not None,
            "group": self.registration.group if self.registration else None,
            "entries": self.present,
            "missing": sorted(set(self.registration.entries) - set(self.present)) if self.registration else [],
            "problem": self.problem,
        }


def _state_file() -> Path:
    return paths.state_dir() / "clients.json"


def load_registrations() -> dict[str, Registration]:
    try:
        raw = json.loads(_state_file().read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{_state_file()}: unreadable client registrations: {exc}") from exc
    return {
        client_id: Registration(
            client=client_id,
            group=item.get("group"),
            follows_workloads=item.get("follows_workloads", True),
            entries=dict(item.get("entries", {})),
        )
        for client_id, item in raw.get("clients", {}).items()
    }


def _save_registrations(registrations: Mapping[str, Registration]) -> None:
    document = {
        "clients": {
            r.client: {"group": r.group, "follows_workloads": r.follows_workloads, "entries": r.entries}
            for r in registrations.values()
        }
    }
    write_atomic(_state_file(), json.dumps(document, indent=2) + "\n")


def _lock_for(path: Path) -> FileLock:
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:24]
    lock_dir = paths.ensure(paths.runtime_dir() / "locks")
    return FileLock(str(lock_dir / f"client-{digest}.lock"))


def read_config(client: Client, path: Path) -> tuple[str, dict[str, Any]]:
    """The file's text and its current server entries; raises ConfigError naming the line if unparsable."""
    try:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text; left untouched") from exc
    try:
        return text, client.format.entries(text)
    except Exception as exc:
        syntax = syntax_error_of(exc)
        if syntax is None:
            raise
        raise ConfigError(f"{path}: {syntax}; left untouched") from exc


def edit_config(client: Client, path: Path, change: Callable[[str, dict[str, Any]], str]) -> bool:
    """Apply ``change(text, entries) -> new text`` under a lock; backup + atomic replace. True if changed."""
    try:
        with _lock_for(path).acquire(timeout=LOCK_TIMEOUT_SECONDS):
            text, entries = read_config(client, path)
            updated = change(text, entries)
            if updated == text:
                return False
            try:
                client.format.entries(updated)  # our own edit must leave a file the client can read
            except Exception as exc:
                if syntax_error_of(exc) is None:
                    raise
                raise HivekeeperError(f"{path}: refusing to write an edit that does not parse: {exc}") from exc
            mode = path.stat().st_mode & 0o777 if path.exists() else 0o600
            if path.exists():
                write_atomic(path.with_name(path.name + BACKUP_SUFFIX), text, mode=mode)
            write_atomic(path, updated, mode=mode)
            return True
    except Timeout as exc:
        raise ConflictError(f"{path}: another hivekeeper process holds its lock; try again") from exc


def _resolve(client_ids: Iterable[str], environment: Environment) -> list[Client]:
    ids = list(client_ids)
    if ids == ["all"]:
        return [client for client in CLIENTS if client.detected(environment)]
    unknown = [client_id for client_id in ids if client_id not in BY_ID]
    if unknown:
        known = ", ".join(BY_ID)
        raise NotFoundError(f"unknown client {', '.join(unknown)} (known: {known}, or 'all' for every detected one)")
    return [BY_ID[client_id] for client_id in ids]


def _apply(
    client: Client,
    environment: Environment,
    registration: Registration,
    endpoints: Iterable[Endpoint],
    *,
    force: bool,
) -> Registration:
    """Make the file hold exactly ``endpoints`` among the entries hivekeeper owns; returns the new record."""
    path = client.config_path(environment)
    wanted = {endpoint.name: endpoint for endpoint in endpoints}
    owned = set(registration.entries)

    def change(text: str, entries: dict[str, Any]) -> str:
        clashing = sorted(name for name in wanted if name in entries and name not in owned)
        if clashing and not force:
            raise ConflictError(
                f"{path}: entry {', '.join(clashing)} exists and was not written by hivekeeper "
                "(use --force to replace it)"
            )
        for name in sorted(owned - set(wanted)):
            text = client.format.remove_entry(text, name)
        for name, endpoint in wanted.items():
            value = client.entry(endpoint)
            if entries.get(name) != value:
                text = client.format.set_entry(text, name, value)
        return text

    path.parent.mkdir(parents=True, exist_ok=True)
    edit_config(client, path, change)
    return Registration(
        client=client.id,
        group=registration.group,
        follows_workloads=registration.follows_workloads,
        entries={name: endpoint.url for name, endpoint in wanted.items()},
    )


def register(
    client_ids: Iterable[str],
    endpoints: list[Endpoint],
    *,
    group: str | None = None,
    follows_workloads: bool = True,
    force: bool = False,
    environment: Environment | None = None,
) -> list[Registration]:
    environment = environment or Environment.current()
    registrations = load_registrations()
    done = []
    for client in _resolve(client_ids, environment):
        previous = registrations.get(client.id) or Registration(client.id)
        wanted = Registration(client.id, group, follows_workloads, previous.entries)
        registrations[client.id] = _apply(client, environment, wanted, endpoints, force=force)
        _save_registrations(registrations)
        done.append(registrations[client.id])
    return done


def remove(client_ids: Iterable[str], *, environment: Environment | None = None) -> list[str]:
    environment = environment or Environment.current()
    registrations = load_registrations()
    removed = []
    for client in _resolve(client_ids, environment):
        registration = registrations.get(client.id)
        if registration is None:
            continue
        _apply(client, environment, registration, [], force=False)
        del registrations[client.id]
        _save_registrations(registrations)
        removed.append(client.id)
    return removed


def sync(endpoints_by_group: Callable[[str | None], list[Endpoint]], *, environment: Environment | None = None) -> None:
    """Bring every client that follows workloads up to date (called when workloads start or stop).

    A client whose file is broken is skipped, never rewritten; the others are still updated.
    """
    environment = environment or Environment.current()
    registrations = load_registrations()
    for client_id, registration in list(registrations.items()):
        client = BY_ID.get(client_id)
        if client is None or not registration.follows_workloads:
            continue
        try:
            registrations[client_id] = _apply(
                client, environment, registration, endpoints_by_group(registration.group), force=False
            )
        except HivekeeperError:
            continue
    _save_registrations(registrations)


def status(environment: Environment | None = None) -> list[ClientStatus]:
    environment = environment or Environment.current()
    registrations = load_registrations()
    result = []
    for client in CLIENTS:
        path = client.config_path(environment)
        registration = registrations.get(client.id)
        problem = None
        present: dict[str, str] = {}
        if registration is not None:
            try:
                _, entries = read_config(client, path)
                present = {name: url for name, url in registration.entries.items() if name in entries}
            except HivekeeperError as exc:
                problem = exc.message
        result.append(ClientStatus(client, path, client.detected(environment), registration, present, problem))
    return result
