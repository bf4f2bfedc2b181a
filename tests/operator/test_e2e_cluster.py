"""End to end on a real cluster (kind): operator deployed, an MCPServer answers a tool call, egress blocked.

Runs only with KUBECONFIG pointing at a disposable cluster that already has the hivekeeper image and the
test server image loaded (see docs/kubernetes.md, "End-to-end test on kind"). It creates and deletes
the namespace ``hivekeeper-e2e``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
NS = "hivekeeper-e2e"
SERVER_IMAGE = os.environ.get("HIVEKEEPER_E2E_SERVER_IMAGE", "hivekeeper:0.1.0")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.environ.get("KUBECONFIG"), reason="KUBECONFIG not set: no cluster to run against"),
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed"),
]


def kubectl(*args: str, stdin: str | None = None, check: bool = True) -> str:
    result = subprocess.run(["kubectl", *args], input=stdin, capture_output=True, text=True, timeout=300)
    if check and result.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)}: {result.stderr}")
    return result.stdout


def wait_for(condition: Any, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(2)
    raise AssertionError(f"timed out waiting for {condition.__doc__}")


@pytest.fixture(scope="module")
def cluster() -> Any:
    kubectl("apply", "--server-side", "-k", str(REPO / "deploy/kustomize"))
    kubectl("-n", "hivekeeper-system", "rollout", "status", "deployment/hivekeeper-operator", "--timeout=180s")
    kubectl("create", "namespace", NS, check=False)
    yield
    kubectl("delete", "namespace", NS, "--wait=false", check=False)


def test_tool_call_through_the_service_and_blocked_egress(cluster: None) -> None:
    # The echo fixture runs inside the hivekeeper image (it has Python and the MCP SDK).
    server = {
        "apiVersion": "hivekeeper.dev/v1alpha1",
        "kind": "MCPServer",
        "metadata": {"name": "echo", "namespace": NS},
        "spec": {
            "image": SERVER_IMAGE,
            "command": ["python", "-c", (REPO / "tests/fixtures/echo_server.py").read_text()],
            "networkPolicy": {"allowedEndpoints": ["example.com:443"]},
            "policies": [{"type": "tool-allowlist", "config": {"allowedTools": ["echo"]}}],
        },
    }
    kubectl("apply", "-f", "-", stdin=yaml.safe_dump(server))

    def ready() -> bool:
        """MCPServer echo Ready"""
        status = json.loads(kubectl("-n", NS, "get", "mcpserver", "echo", "-o", "json")).get("status", {})
        return any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions", []))

    wait_for(ready)
    # A client pod inside the cluster lists and calls tools through the Service with the MCP SDK.
    script = (
        "import asyncio\nfrom mcp import Client\n"
        "async def main():\n"
        "    async with Client('http://echo:8080/mcp') as client:\n"
        "        print(sorted(tool.name for tool in (await client.list_tools()).tools))\n"
        "        print((await client.call_tool('echo', {'text': 'hello from the cluster'})).content[0].text)\n"
        "asyncio.run(main())\n"
    )
    out = kubectl(
        "-n",
        NS,
        "run",
        "e2e-client",
        "--rm",
        "-i",
        "--restart=Never",
        f"--image={SERVER_IMAGE}",
        "--command",
        "--",
        "python",
        "-c",
        script,
    )
    assert "['echo']" in out  # "add" withheld by the allowlist
    assert "hello from the cluster" in out
    status = json.loads(kubectl("-n", NS, "get", "mcpserver", "echo", "-o", "json"))["status"]
    assert status["observedTools"] == ["echo"]
    # The server container reaches nothing directly (NetworkPolicy; needs a CNI that enforces it) ...
    pod = kubectl(
        "-n",
        NS,
        "get",
        "pod",
        "-l",
        "hivekeeper.dev/mcpserver=echo,app.kubernetes.io/component=mcp-server",
        "-o",
        "jsonpath={.items[0].metadata.name}",
    )
    direct = (
        "import socket;s=socket.socket();s.settimeout(5);"
        "print('open' if s.connect_ex(('1.1.1.1',443))==0 else 'blocked')"
    )
    assert kubectl("-n", NS, "exec", pod, "-c", "mcp", "--", "python", "-c", direct).strip() == "blocked"
    # ... and its egress proxy refuses hosts outside allowedEndpoints.
    via_proxy = (
        "import os,socket,urllib.parse as u;p=u.urlsplit(os.environ['HTTPS_PROXY']);"
        "s=socket.create_connection((p.hostname,p.port),timeout=10);"
        "s.sendall(b'CONNECT evil.example.net:443 HTTP/1.1\\r\\nHost: evil.example.net:443\\r\\n\\r\\n');"
        "print(s.recv(64).split()[1].decode())"
    )
    assert kubectl("-n", NS, "exec", pod, "-c", "mcp", "--", "python", "-c", via_proxy).strip() == "403"
    kubectl("-n", NS, "delete", "mcpserver", "echo", "--wait=true", "--timeout=120s")
    assert kubectl("-n", NS, "get", "deployment", "-o", "name").strip() == ""
