"""Tool integrity: a tool's definition is pinned (SHA-256) when a person approves it; a backend that
later changes it (a "rug pull") has that tool withheld and an alert raised until it is re-approved.
Descriptions are also scanned for prompt-injection patterns; flagged tools are withheld (or only
flagged, when configured) unless that exact definition was approved.

The running gateway records what it observes in ``observed.json``; ``hivekeeper tools approve`` copies
observed fingerprints into ``pins.json``, which the gateway re-reads when it changes. Two files, one
writer each, so the CLI and any number of gateway processes never write over each other.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import orjson
from filelock import FileLock
from pydantic import BaseModel, ConfigDict, Field

from hivekeeper.fileio import write_atomic
from hivekeeper.policy.injection import Finding, scan_tool

log = logging.getLogger("hivekeeper.gateway.integrity")

# The parts of a definition that change what a model is told or what it may send.
_PINNED_FIELDS = ("name", "title", "description", "inputSchema", "outputSchema", "annotations")


class IntegrityConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    directory: Path | None = Field(default=None, description="Where pins.json/observed.json live (default: state).")
    unapproved: Literal["allow", "withhold"] = Field(
        default="allow",
        description="Tools never approved: serve them (and list them as pending) or withhold them.",
    )
    flagged: Literal["withhold", "warn"] = Field(
        default="withhold",
        description="Tools whose description trips the injection scan and were not approved.",
    )


class Status(StrEnum):
    APPROVED = "approved"
    PENDING = "pending"  # never approved
    CHANGED = "changed"  # differs from the approved definition
    FLAGGED = "flagged"  # injection patterns in a definition nobody approved


@dataclass(frozen=True)
class Verdict:
    status: Status
    fingerprint: str
    withheld: bool
    findings: tuple[Finding, ...] = ()

    @property
    def reason(self) -> str:
        if self.status is Status.CHANGED:
            return "its definition changed since it was approved; re-approve with `hivekeeper tools approve`"
        if self.status is Status.FLAGGED:
            return "its description looks like prompt injection: " + "; ".join(
                finding.message for finding in self.findings
            )
        return "it was never approved (`hivekeeper tools approve`)"


def fingerprint(tool: dict[str, Any]) -> str:
    pinned = {key: tool[key] for key in _PINNED_FIELDS if key in tool}
    return hashlib.sha256(orjson.dumps(pinned, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _key(backend: str, tool: str) -> str:
    return f"{backend}/{tool}"


class PinStore:
    """``pins.json`` (approved fingerprints) and ``observed.json`` (what backends serve now)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.pins_path = directory / "pins.json"
        self.observed_path = directory / "observed.json"
        self._lock = FileLock(str(directory / ".integrity.lock"))
        self._pins: dict[str, dict[str, Any]] = {}
        self._pins_mtime: float | None = None

    def pins(self) -> dict[str, dict[str, Any]]:
        """Approved pins, re-read only when the file changed."""
        try:
            mtime = self.pins_path.stat().st_mtime_ns
        except FileNotFoundError:
            self._pins, self._pins_mtime = {}, None
            return self._pins
        if mtime != self._pins_mtime:
            self._pins = _read(self.pins_path)
            self._pins_mtime = mtime
        return self._pins

    def observed(self) -> dict[str, dict[str, Any]]:
        return _read(self.observed_path)

    def record_observed(self, backend: str, entries: dict[str, dict[str, Any]]) -> None:
        """Replace what ``backend`` is observed to serve (tool name → entry)."""
        with self._lock:
            observed = {k: v for k, v in _read(self.observed_path).items() if not k.startswith(backend + "/")}
            observed.update({_key(backend, name): entry for name, entry in entries.items()})
            write_atomic(self.observed_path, orjson.dumps(observed, option=orjson.OPT_INDENT_2))

    def approve(self, selected: Callable[[str, dict[str, Any]], bool]) -> list[str]:
        """Pin every observed definition for which ``selected(key, entry)`` holds; returns the keys pinned."""
        with self._lock:
            observed = _read(self.observed_path)
            pins = _read(self.pins_path)
            approved = []
            for key, entry in sorted(observed.items()):
                if selected(key, entry) and pins.get(key, {}).get("sha256") != entry["sha256"]:
                    pins[key] = {"sha256": entry["sha256"], "approved_at": time.time()}
                    approved.append(key)
            if approved:
                write_atomic(self.pins_path, orjson.dumps(pins, option=orjson.OPT_INDENT_2))
            return approved


def _read(path: Path) -> dict[str, dict[str, Any]]:
    try:
        data = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc}); delete it to start over") from exc
    return data if isinstance(data, dict) else {}


class IntegrityGuard:
    """Judges every tool a backend serves against its pin; raises alerts for changed definitions."""

    def __init__(
        self,
        config: IntegrityConfig,
        store: PinStore,
        *,
        alert: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.alert = alert
        self._alerted: set[tuple[str, str, str]] = set()  # (backend, tool, fingerprint) already reported
        self._recorded: dict[str, dict[str, tuple[str, str]]] = {}  # backend → what observed.json holds for it

    def judge(self, backend: str, tools: Iterable[dict[str, Any]]) -> dict[str, Verdict]:
        """A verdict per tool name of ``backend`` (names and definitions as the backend serves them)."""
        pins = self.store.pins()
        verdicts: dict[str, Verdict] = {}
        observed: dict[str, dict[str, Any]] = {}
        for tool in tools:
            name = str(tool.get("name", ""))
            digest = fingerprint(tool)
            findings = tuple(scan_tool(name, tool.get("description"), f"{backend}/{name}"))
            pinned = pins.get(_key(backend, name), {}).get("sha256")
            if pinned == digest:
                verdict = Verdict(Status.APPROVED, digest, withheld=False, findings=findings)
            elif pinned is not None:
                verdict = Verdict(Status.CHANGED, digest, withheld=True, findings=findings)
            elif findings:
                verdict = Verdict(Status.FLAGGED, digest, self.config.flagged == "withhold", findings)
            else:
                verdict = Verdict(Status.PENDING, digest, withheld=self.config.unapproved == "withhold")
            verdicts[name] = verdict
            observed[name] = {
                "sha256": digest,
                "status": str(verdict.status),
                "definition": tool,
                "findings": [finding.to_dict() for finding in findings],
                "seen_at": time.time(),  # when this definition (in this status) was first recorded
            }
            if verdict.status in (Status.CHANGED, Status.FLAGGED):
                self._raise_alert(backend, name, verdict)
        summary = {name: (entry["sha256"], entry["status"]) for name, entry in observed.items()}
        if self._recorded.get(backend) != summary:  # lists are re-read often; the file changes rarely
            self.store.record_observed(backend, observed)
            self._recorded[backend] = summary
        return verdicts

    def _raise_alert(self, backend: str, tool: str, verdict: Verdict) -> None:
        seen = (backend, tool, verdict.fingerprint)
        if seen in self._alerted:
            return
        self._alerted.add(seen)
        log.warning("tool %s/%s %s: %s", backend, tool, verdict.status, verdict.reason)
        if self.alert is not None:
            self.alert(
                {
                    "event": "integrity_alert",
                    "backend": backend,
                    "tool": tool,
                    "status": str(verdict.status),
                    "sha256": verdict.fingerprint,
                    "withheld": verdict.withheld,
                    "reason": verdict.reason,
                }
            )
