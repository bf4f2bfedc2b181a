"""Registry names resolve to pinned workload sources for ``hivekeeper run``."""

from __future__ import annotations

from pathlib import Path

from hivekeeper.registry import RegistrySettings, RegistryStore, open_registry
from hivekeeper.registry.resolve import registry_resolver
from tests.registry.conftest import server_json


def test_registry_names_resolve_to_pinned_sources(hivekeeper_home: Path) -> None:
    store = open_registry(RegistrySettings()).store
    store.publish(server_json(name="io.github.acme/weather", version="1.0.0"))
    store.publish(server_json(name="io.github.acme/weather", version="2.0.0"))
    store.close()

    time = registry_resolver("io.modelcontextprotocol/time")
    assert (time.source, list(time.args), time.profile) == ("uvx://mcp-server-time@2026.10.19", [], "none")
    assert registry_resolver("io.modelcontextprotocol/fetch").profile == "network"
    assert registry_resolver("io.modelcontextprotocol/everything").source == (
        "npx://@modelcontextprotocol/server-everything@2026.8.31"
    )
    weather = registry_resolver("io.github.acme/weather")
    assert weather.source == "uvx://acme-weather-mcp@2.0.0"
    assert weather.env == {"WEATHER_UNITS": "metric"}  # the secret API key is never defaulted
    assert registry_resolver("io.github.acme/weather@1.0.0").source == "uvx://acme-weather-mcp@1.0.0"
    assert registry_resolver("io.github.acme/unknown") is None
    assert registry_resolver("python3") is None


def test_a_named_database_is_resolved_in_as_it_is(hivekeeper_home: Path, tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'portal.db'}"
    store = RegistryStore.open(database)
    store.publish(server_json(name="io.github.acme/weather", version="1.0.0"))
    store.close()

    assert registry_resolver("io.github.acme/weather", database).source == "uvx://acme-weather-mcp@1.0.0"
    assert registry_resolver("io.github.acme/weather") is None  # not in this machine's registry
    assert registry_resolver("io.modelcontextprotocol/time", database) is None  # no starter catalogue added to it
    assert registry_resolver("io.modelcontextprotocol/time") is not None
