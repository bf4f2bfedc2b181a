"""`hivekeeper run URL` of a remote server that refuses our credentials: one line naming the status and the
server's challenge, right away, and nothing left behind. Real manager, real SDK server behind a real
bearer check."""

from __future__ import annotations

import time
from pathlib import Path

from hivekeeper.workloads.control import ManagerClient
from tests.conftest import guarded_http_server
from tests.workloads.workload_helpers import hk_process


def test_a_remote_refusing_our_credentials_fails_the_run_at_once(manager: ManagerClient, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("not-ours")
    with guarded_http_server(token, "--realm", "team-api") as url:
        started = time.monotonic()
        outcome = hk_process("run", "--name", "locked", url)
        took = time.monotonic() - started
    assert outcome.returncode == 1, outcome.stderr
    assert outcome.stderr.strip().splitlines() == [
        'error: locked: backend locked#0 rejected our credentials: HTTP 401 Unauthorized (realm "team-api", '
        'error "invalid_token": missing or unknown bearer token)'
    ]
    assert took < 30  # the manager's readiness timeout is 120 s: nothing waited for it
    assert manager.call("list") == []
