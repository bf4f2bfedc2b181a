"""``hivekeeper serve`` with a ``gateway:`` section serves the gateway at /mcp beside everything else."""

from __future__ import annotations

from pathlib import Path

import httpx
from mcp import Client

from hivekeeper.server import ServerConfig, build_app
from tests.conftest import ECHO_SERVER
from tests.gateway.gateway_helpers import serve_asgi


async def test_serve_mounts_the_gateway(hivekeeper_home: Path) -> None:
    config = ServerConfig.model_validate(
        {"gateway": {"name": "main", "backends": [{"name": "echo", "command": ECHO_SERVER}]}}
    )
    async with serve_asgi(build_app(config)) as url:
        async with Client(f"{url}/mcp") as client:
            result = await client.call_tool("echo_echo", {"text": "through serve"})
            assert [block.text for block in result.content] == ["through serve"]  # type: ignore[union-attr]
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{url}/healthz")).json()["status"] == "ok"
            status = (await http.get(f"{url}/gateway/status")).json()
            assert status["name"] == "main" and status["backends"][0]["up"]
    # Integrity observations land in the state dir of HIVEKEEPER_HOME when no directory is configured.
    assert (hivekeeper_home / "state" / "gateway" / "main" / "observed.json").exists()
