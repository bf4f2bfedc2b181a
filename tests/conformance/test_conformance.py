"""The official conformance suite's server scenarios, both requirement sets, directly and through the proxy."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conformance.suite import REVISIONS, SuiteRun, required_scenarios

KNOWN_FAILURES: dict[str, dict[str, str]] = yaml.safe_load((Path(__file__).parent / "known-failures.yaml").read_text())


@pytest.mark.parametrize("revision", REVISIONS)
def test_the_suite_ran_exactly_the_required_scenarios(direct_runs: dict[str, SuiteRun], revision: str) -> None:
    ran = {name for name, outcome in direct_runs[revision].outcomes.items() if outcome.ran}
    assert ran == required_scenarios(revision)


@pytest.mark.parametrize("revision", REVISIONS)
def test_direct_server_fails_exactly_the_listed_scenarios(direct_runs: dict[str, SuiteRun], revision: str) -> None:
    run = direct_runs[revision]
    listed = set(KNOWN_FAILURES[revision])
    unexpected, stale = run.failing - listed, listed - run.failing
    assert not unexpected, run.explain(unexpected)
    assert not stale, f"listed in known-failures.yaml but passing directly at {revision}: {sorted(stale)}"


@pytest.mark.parametrize("revision", REVISIONS)
def test_proxy_passes_every_scenario_not_listed(proxy_runs: dict[str, SuiteRun], revision: str) -> None:
    run = proxy_runs[revision]
    unexpected = run.failing - set(KNOWN_FAILURES[revision])
    assert not unexpected, run.explain(unexpected)


@pytest.mark.parametrize("revision", REVISIONS)
def test_proxy_never_fails_what_the_direct_server_passes(
    direct_runs: dict[str, SuiteRun], proxy_runs: dict[str, SuiteRun], revision: str
) -> None:
    regressions = proxy_runs[revision].failing - direct_runs[revision].failing
    assert not regressions, proxy_runs[revision].explain(regressions)
