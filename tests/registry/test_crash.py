"""SIGKILL the registry in the middle of publishing: every acknowledged publish survives, nothing is torn."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import httpx
from sqlalchemy import text

from hivekeeper.registry import RegistryStore
from hivekeeper.registry.curation import content_hash
from hivekeeper.registry.versions import semver_key
from tests.conftest import REPO, free_port, wait_for_http
from tests.registry.conftest import ADMIN_TOKEN, auth, server_json

SERVE = Path(__file__).with_name("serve_registry.py")


def test_sigkill_during_publish_loses_nothing_acknowledged(database_url: str) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    process = subprocess.Popen([sys.executable, str(SERVE), database_url, str(port), ADMIN_TOKEN], env=env)
    acknowledged: list[tuple[str, str]] = []
    attempted: list[tuple[str, str]] = []
    lock = threading.Lock()
    stop = threading.Event()
    try:
        wait_for_http(f"http://127.0.0.1:{port}/v0.1/health", timeout=30)

        def publisher(worker: int) -> None:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
                for step in range(10_000):
                    if stop.is_set():
                        return
                    # Several versions per name so each publish also moves the "latest" flag.
                    name, version = f"io.github.crash/w{worker}-{step // 4}", f"1.{step % 4}.0"
                    with lock:
                        attempted.append((name, version))
                    try:
                        response = client.post(
                            "/v0.1/publish", json=server_json(name=name, version=version), headers=auth()
                        )
                    except httpx.HTTPError:
                        return
                    if response.status_code == 200:
                        with lock:
                            acknowledged.append((name, version))

        workers = [threading.Thread(target=publisher, args=(index,)) for index in range(4)]
        for worker in workers:
            worker.start()
        deadline = time.monotonic() + 20
        while len(acknowledged) < 40 and time.monotonic() < deadline:
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        stop.set()
        for worker in workers:
            worker.join(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert len(acknowledged) >= 40, "the server never got going"
    assert len(attempted) > len(acknowledged), "the kill did not land during publishing"

    store = RegistryStore.open(database_url)  # reopening also re-runs the migrations on the crashed DB
    try:
        if database_url.startswith("sqlite"):
            with store.engine.connect() as connection:
                assert connection.execute(text("PRAGMA integrity_check")).scalar() == "ok"
        stored = {(entry.name, entry.version): entry for entry in _all_entries(store)}
        assert set(acknowledged) <= set(stored), "an acknowledged publish was lost"
        assert set(stored) <= set(attempted)
        by_name: dict[str, list[str]] = defaultdict(list)
        for (name, version), entry in stored.items():
            assert entry.content_hash == content_hash(entry.server)
            assert entry.server == server_json(name=name, version=version)
            by_name[name].append(version)
        for name, versions in by_name.items():
            latest = [
                entry.version for (entry_name, _), entry in stored.items() if entry_name == name and entry.is_latest
            ]
            assert latest == [max(versions, key=lambda v: semver_key(v) or ())], name
    finally:
        store.close()


def _all_entries(store: RegistryStore) -> list:  # type: ignore[type-arg]
    entries, cursor = [], None
    while True:
        page = store.list(limit=100, cursor=cursor)
        entries += page.entries
        if not page.next_cursor:
            return entries
        cursor = page.next_cursor
