"""Fixtures for tool-search tests.

``catalog_fixture.json`` holds ten servers copied verbatim from the tool-search data set
(``tools/list`` output of filesystem, git, slack, time, fetch, memory, gitlab-legacy, github-legacy-ts,
plus 12306-mcp with Chinese descriptions and coin-flip whose descriptions are empty).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hivekeeper.search import ToolIndex, load_catalog

CATALOG = Path(__file__).resolve().parent / "catalog_fixture.json"


@pytest.fixture(scope="session")
def catalog_servers() -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads(CATALOG.read_text())
    return data


@pytest.fixture(scope="session")
def index() -> ToolIndex:
    """One index over the fixture catalogue, shared read-only by the retrieval tests."""
    catalog = load_catalog(CATALOG)
    built = ToolIndex()
    built.update_servers(catalog.tools, descriptions=catalog.descriptions)
    return built
