"""Sync sources: a local file, a real git repository, another registry; idempotence and bad entries."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from starlette.applications import Starlette

from hivekeeper.registry import RegistryStore, SyncSource, TrustTier
from hivekeeper.registry.sync import source_from_location, sync_source
from tests.registry.conftest import ADMIN_TOKEN, ServerThread, auth, server_json


@pytest.fixture
def store(database_url: str) -> RegistryStore:
    opened = RegistryStore.open(database_url)
    yield opened
    opened.close()


def write_entries(path: Path, entries: list[object]) -> None:
    path.write_text(json.dumps(entries, indent=1))


def test_file_source_is_idempotent_and_detects_changes(store: RegistryStore, tmp_path: Path) -> None:
    catalogue = tmp_path / "catalogue.json"
    bad = server_json(name="io.github.acme/bad", version="^1.0")
    write_entries(catalogue, [server_json(name="io.github.acme/a"), bad, server_json(name="io.github.acme/b")])
    source = SyncSource(name="curated", kind="file", location=str(catalogue), tier=TrustTier.VERIFIED)

    first = sync_source(store, source)
    assert first.created == ["io.github.acme/a@1.0.0", "io.github.acme/b@1.0.0"]
    assert len(first.rejected) == 1
    where, reason = first.rejected[0]
    assert where == "catalogue.json[1]" and "version" in reason and "range" in reason
    assert store.get("io.github.acme/a").trust_tier is TrustTier.VERIFIED

    again = sync_source(store, source)
    assert (again.created, again.updated, again.unchanged) == ([], [], 2)
    updated_at = store.get("io.github.acme/a").updated_at

    write_entries(
        catalogue,
        [server_json(name="io.github.acme/a", description="Now with tides"), server_json(name="io.github.acme/b")],
    )
    third = sync_source(store, source)
    assert third.updated == ["io.github.acme/a@1.0.0"] and third.unchanged == 1
    refreshed = store.get("io.github.acme/a")
    assert refreshed.server["description"] == "Now with tides" and refreshed.updated_at > updated_at


def test_entries_owned_by_another_source_are_not_overwritten(store: RegistryStore, tmp_path: Path) -> None:
    store.publish(server_json(name="io.github.acme/a"))
    catalogue = tmp_path / "c.yaml"
    catalogue.write_text("- name: io.github.acme/a\n  description: hijack\n  version: 1.0.0\n")
    report = sync_source(store, SyncSource(name="other", kind="file", location=str(catalogue)))
    assert report.created == [] and "already comes from 'publish'" in report.rejected[0][1]
    assert store.get("io.github.acme/a").server["description"].startswith("Weather")


def git(*args: str, cwd: Path) -> str:
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "PATH": "/usr/bin:/bin",
        "HOME": str(cwd),
    }
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env=env).stdout.strip()


def test_git_source_tracks_commits(store: RegistryStore, tmp_path: Path) -> None:
    repo = tmp_path / "catalogue-repo"
    (repo / "servers").mkdir(parents=True)
    git("init", "--quiet", "--initial-branch=main", cwd=repo)
    (repo / "servers" / "a.json").write_text(json.dumps(server_json(name="io.github.acme/a")))
    (repo / "servers" / "broken.json").write_text("{ not json")
    (repo / "README.md").write_text("not an entry")
    git("add", ".", cwd=repo)
    git("commit", "--quiet", "-m", "first", cwd=repo)
    first_commit = git("rev-parse", "HEAD", cwd=repo)

    source = source_from_location(str(repo), path="servers", ref="main")
    assert source.kind == "git"
    report = sync_source(store, source)
    assert report.revision == first_commit
    assert report.created == ["io.github.acme/a@1.0.0"]
    assert [where for where, _ in report.rejected] == ["broken.json"]

    (repo / "servers" / "broken.json").unlink()
    (repo / "servers" / "b.json").write_text(json.dumps(server_json(name="io.github.acme/b")))
    git("add", "-A", cwd=repo)
    git("commit", "--quiet", "-m", "second", cwd=repo)
    second = sync_source(store, source)
    assert second.ok and second.created == ["io.github.acme/b@1.0.0"] and second.unchanged == 1
    assert second.revision != first_commit

    # The repository disappears: the sync reports it and the catalogue keeps serving what it had.
    shutil.rmtree(repo)
    gone = sync_source(store, source)
    assert gone.error and "git clone" in gone.error
    assert {entry.name for entry in store.list().entries} == {"io.github.acme/a", "io.github.acme/b"}


def test_upstream_registry_source_follows_pagination(store: RegistryStore, tmp_path: Path) -> None:
    from hivekeeper.registry import open_registry
    from tests.registry.conftest import registry_settings

    upstream = open_registry(registry_settings(f"sqlite:///{tmp_path / 'upstream.db'}"))
    seeded = upstream.store.import_entries(
        [server_json(name=f"io.github.up/s{index:03d}") for index in range(105)], tier=TrustTier.VERIFIED, source="seed"
    )
    assert all(isinstance(result, tuple) for result in seeded)
    upstream.store.publish(server_json(name="io.github.up/s000", version="1.1.0"))
    app = Starlette(routes=upstream.api.routes())
    with ServerThread(app) as server:
        source = source_from_location(server.url, name="upstream", tier=TrustTier.COMMUNITY)
        assert source.kind == "registry"
        report = sync_source(store, source)
        assert report.ok and len(report.created) == 106
        assert store.get("io.github.up/s000").version == "1.1.0"
        assert sync_source(store, source).unchanged == 106

        # Publishing upstream shows up at the next sync; nothing else is rewritten.
        import httpx

        response = httpx.post(
            f"{server.url}/v0.1/publish", json=server_json(name="io.github.up/new"), headers=auth(ADMIN_TOKEN)
        )
        assert response.status_code == 200
        delta = sync_source(store, source)
        assert delta.created == ["io.github.up/new@1.0.0"] and delta.unchanged == 106
    upstream.store.close()

    # The upstream is gone now.
    vanished = sync_source(store, source)
    assert vanished.error and "unreachable" in vanished.error
    assert store.count() == 107


def test_missing_file_source_changes_nothing(store: RegistryStore, tmp_path: Path) -> None:
    catalogue = tmp_path / "c.json"
    write_entries(catalogue, [server_json(name="io.github.acme/a")])
    source = SyncSource(name="c", kind="file", location=str(catalogue))
    assert sync_source(store, source).created
    catalogue.unlink()
    report = sync_source(store, source)
    assert report.error == f"c: {catalogue} does not exist"
    assert store.get("io.github.acme/a").version == "1.0.0"
