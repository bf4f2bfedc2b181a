"""Running the official MCP conformance suite's server scenarios for one requirement set and reading its
per-check results."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.conftest import FIXTURES, NPM_TOOLS, node_env, npm_tool

CONFORMANCE_SERVER = [sys.executable, str(FIXTURES / "conformance_server.py")]
SUITE_PACKAGE = NPM_TOOLS / "node_modules" / "@modelcontextprotocol" / "conformance"
REVISIONS = ("2025-11-25", "2026-07-28")
# One results folder per scenario: server-<scenario>-<ISO timestamp with ':' and '.' turned into '-'>.
_RESULT_DIR = re.compile(r"^server-(?P<scenario>.+)-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$")


@dataclass(frozen=True)
class ScenarioOutcome:
    scenario: str
    failures: tuple[str, ...]  # "check-id: message" for every FAILURE check
    ran: bool = True  # False: the suite left no results for it (crashed or skipped it)

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass(frozen=True)
class SuiteRun:
    revision: str
    target: str
    outcomes: dict[str, ScenarioOutcome]

    @property
    def failing(self) -> set[str]:
        return {name for name, outcome in self.outcomes.items() if not outcome.passed}

    def explain(self, scenarios: set[str]) -> str:
        lines = [f"{self.target} at {self.revision}:"]
        for name in sorted(scenarios):
            lines += [f"  {name}"] + [f"    {failure}" for failure in self.outcomes[name].failures[:5]]
        return "\n".join(lines)


def required_scenarios(revision: str) -> set[str]:
    """Every server scenario the requirement set runs: the scored ones and those it runs unscored."""
    document = yaml.safe_load((SUITE_PACKAGE / "requirements" / f"{revision}.yaml").read_text())
    unscored = {entry["scenario"] for entry in document.get("not_scored", []) if entry["leg"] == "server"}
    return set(document["server"]) | unscored


def run_suite(url: str, revision: str, results: Path, target: str) -> SuiteRun:
    """Run `conformance server --requirements REVISION` against `url` and read every scenario's checks.json.

    The exit code only says whether a scored scenario failed; the per-check results say which and why, and
    a scenario that left no results (the suite crashed or skipped it) counts as failed.
    """
    command = [str(npm_tool("conformance")), "server", "--url", url, "--requirements", revision, "-o", str(results)]
    completed = subprocess.run(command, env=node_env(), capture_output=True, text=True, timeout=240)
    (results / "suite.log").write_text(completed.stdout + completed.stderr)
    outcomes: dict[str, ScenarioOutcome] = {}
    for folder in results.iterdir():
        if (match := _RESULT_DIR.match(folder.name)) and (folder / "checks.json").exists():
            checks = json.loads((folder / "checks.json").read_text())
            failures = tuple(
                f"{check['id']}: {check.get('errorMessage') or check.get('description', '')}"
                for check in checks
                if check["status"] == "FAILURE"
            )
            outcomes[match["scenario"]] = ScenarioOutcome(match["scenario"], failures)
    tail = (completed.stdout + completed.stderr)[-1500:]
    for scenario in required_scenarios(revision) - outcomes.keys():
        failure = f"no results (suite exit {completed.returncode}): {tail}"
        outcomes[scenario] = ScenarioOutcome(scenario, (failure,), ran=False)
    return SuiteRun(revision, target, outcomes)
