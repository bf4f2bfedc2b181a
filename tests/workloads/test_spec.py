from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from hivekeeper.config import validate_document
from hivekeeper.errors import ConfigError, NotFoundError
from hivekeeper.registry.db import without_password
from hivekeeper.runtime.base import EgressRule, Limits
from hivekeeper.workloads import RegistryMatch, register_resolver, sources
from hivekeeper.workloads.manager import default_name
from hivekeeper.workloads.spec import WorkloadSpec, parse_duration, parse_volume


def test_flags_override_the_profile_limits() -> None:
    base = Limits(memory_bytes=512 << 20, cpus=1.0, pids=256)
    assert WorkloadSpec(name="a", source="x").limits(base) == base
    assert WorkloadSpec(name="a", source="x", memory="1g", pids=32).limits(base) == Limits(1 << 30, 1.0, 32)


def test_durations() -> None:
    assert parse_duration("1h30m") == 5400
    assert parse_duration("500ms") == 0.5
    for bad in ("", "10x", "m10", "1h 30"):
        with pytest.raises(ValueError, match="not a duration"):
            parse_duration(bad)


def test_volumes_are_read_only_unless_said(tmp_path: Path) -> None:
    assert parse_volume(f"{tmp_path}:/data").read_only
    assert not parse_volume(f"{tmp_path}:/data:rw").read_only
    with pytest.raises(ValueError, match="does not exist"):
        parse_volume(f"{tmp_path}/missing:/data")
    with pytest.raises(ValueError, match="absolute CONTAINER"):
        parse_volume(f"{tmp_path}:data")


def test_allow_host_rules() -> None:
    spec = WorkloadSpec(name="a", source="x", allow_hosts=["api.github.com:443", "*.Example.com"])
    assert spec.egress() == [EgressRule("api.github.com", 443), EgressRule("*.example.com", None)]
    with pytest.raises(ConfigError, match=r"allow_hosts\.0: .*port must be 1-65535"):
        validate_document({"name": "a", "source": "x", "allow_hosts": ["a.com:70000"]}, WorkloadSpec, "run")


def test_spec_errors_name_every_bad_field() -> None:
    document = {
        "name": "Bad Name",
        "source": "x",
        "memory": "12q",
        "secrets": ["a,tgt=B"],
        "pool": 0,
        "env": {"1X": "y"},
        "surprise": True,
    }
    with pytest.raises(ConfigError) as caught:
        validate_document(document, WorkloadSpec, "run.yaml")
    message = caught.value.message
    for field in (
        "run.yaml: name:",
        "run.yaml: memory:",
        "run.yaml: secrets.0:",
        "run.yaml: pool:",
        "run.yaml: env:",
        "run.yaml: surprise:",
    ):
        assert field in message


def test_export_document_round_trips_and_holds_only_references() -> None:
    spec = WorkloadSpec(
        name="gh",
        source="uvx://mcp-server-git@1.0",
        secrets=["gh-token,target=GITHUB_TOKEN"],
        memory="256m",
        idle_stop="10m",
        allow_hosts=["api.github.com:443"],
    )
    document = spec.export_document()
    assert document == {
        "name": "gh",
        "source": "uvx://mcp-server-git@1.0",
        "memory": "256m",
        "allow_hosts": ["api.github.com:443"],
        "secrets": ["gh-token,target=GITHUB_TOKEN"],
        "idle_stop": "10m",
    }
    assert WorkloadSpec.model_validate(document) == spec


def test_source_kinds_and_packages() -> None:
    assert sources.source_kind("https://example.com/mcp", "sandbox") == "remote"
    assert sources.source_kind("uvx://mcp-server-time", "sandbox") == "uvx"
    assert sources.source_kind("npx://@modelcontextprotocol/server-memory@1.2", "sandbox") == "npx"
    assert sources.source_kind("busybox:latest", "docker") == "image"
    assert sources.source_kind("/usr/bin/python3", "sandbox") == "command"
    assert sources.split_package("npx://@modelcontextprotocol/server-memory@1.2.0") == (
        "@modelcontextprotocol/server-memory",
        "1.2.0",
    )
    assert sources.split_package("uvx://mcp-server-time") == ("mcp-server-time", None)
    with pytest.raises(ConfigError, match="PACKAGE"):
        sources.split_package("uvx://")


def test_default_names() -> None:
    assert default_name("uvx://mcp-server-time@1.0", []) == "mcp-server-time"
    assert default_name("npx://@modelcontextprotocol/server-memory", []) == "server-memory"
    assert default_name("https://mcp.example.com/mcp", []) == "mcp-example-com"
    assert default_name("/usr/bin/python3", ["-u", "servers/My_Server.py"]) == "my-server"


def test_registry_resolver_hook() -> None:
    def resolver(name: str, database: str | None) -> RegistryMatch | None:
        match = RegistryMatch(source="uvx://mcp-server-time", args=("--local-timezone", "UTC"))
        return match if name == "time" else None

    unregister = register_resolver(resolver)
    try:
        expected = RegistryMatch("uvx://mcp-server-time", ("--local-timezone", "UTC"))
        assert sources.resolve_registry_name("time") == expected
        assert sources.resolve_registry_name("not-in-registry") is None
    finally:
        unregister()
    assert sources.resolve_registry_name("time") is None
    assert isinstance(sources.unknown_source("x"), NotFoundError)


def test_a_registry_database_is_never_stored_with_its_password() -> None:
    with pytest.raises(ValidationError, match="must not carry a password"):
        WorkloadSpec(name="web", source="uvx://x", registry_database="postgresql+psycopg://hk:secret@db/registry")
    assert WorkloadSpec(name="web", source="uvx://x", registry_database="postgresql+psycopg://hk@db/registry")
    assert (
        without_password("postgresql+psycopg://hk:secret@db:5432/registry")
        == "postgresql+psycopg://hk@db:5432/registry"
    )
    assert without_password("sqlite:////srv/registry.db") == "sqlite:////srv/registry.db"
