"""The rendered pod's processes, run for real on this machine (no Kubernetes here): the init container's
FIFO setup, the wrapped stdio server, the policy proxy with the rendered config, and the egress proxy
with the rendered allowlist. Only what Kubernetes itself provides is substituted: paths of the volumes
(a temporary folder for the emptyDir and the ConfigMap) and loopback ports.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from mcp import Client

from hivekeeper.operator.probe import list_tools
from hivekeeper.operator.render import CONFIG_DIR, STDIO_DIR, render
from tests.conftest import free_port, wait_for_http  # the suite's shared helpers (tests/conftest.py)
from tests.operator.operator_helpers import seed

ECHO_SERVER = Path(__file__).resolve().parents[1] / "fixtures" / "echo_server.py"


def _by(manifests: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name)


def _local(argv: list[str], replacements: dict[str, str]) -> list[str]:
    """A container's command with volume paths and ports mapped to this machine; `hivekeeper` is ours."""
    mapped = []
    for arg in argv:
        for old, new in replacements.items():
            arg = arg.replace(old, new)
        mapped.append(arg)
    if mapped[0] == "hivekeeper":
        mapped = [sys.executable, "-m", "hivekeeper", *mapped[1:]]
    return mapped


class _Upstream(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"upstream says hi"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def upstream() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.terminate()
    for process in started:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


async def test_rendered_pod_serves_allowed_tools_and_egress_follows_the_allowlist(
    tmp_path: Path, upstream: int, processes: list[subprocess.Popen[bytes]]
) -> None:
    resource = seed()
    resource["spec"]["command"] = [sys.executable, str(ECHO_SERVER)]
    resource["spec"]["policies"][0]["config"]["allowedTools"] = ["echo"]
    resource["spec"]["networkPolicy"]["allowedEndpoints"].append(f"127.0.0.1:{upstream}")
    manifests = render(resource)
    pod = _by(manifests, "Deployment", "slack-mcp")["spec"]["template"]["spec"]
    server, proxy = pod["containers"]

    stdio_dir, config_dir = tmp_path / "stdio", tmp_path / "config"
    config_dir.mkdir()
    gateway_yaml = _by(manifests, "ConfigMap", "slack-mcp-proxy")["data"]["gateway.yaml"]
    port, egress_port = free_port(), free_port()
    paths = {STDIO_DIR: str(stdio_dir), CONFIG_DIR: str(config_dir), "0.0.0.0": "127.0.0.1"}
    (config_dir / "gateway.yaml").write_text(
        gateway_yaml.replace(STDIO_DIR, str(stdio_dir)).replace("/tmp/hivekeeper/integrity", str(tmp_path / "pins"))
    )
    # As in the image: `hivekeeper` on PATH (the proxy's backend command is `hivekeeper kube stdio-pipe`).
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "HIVEKEEPER_HOME": str(tmp_path / "home"), "PATH": path}

    init = subprocess.run(_local(pod["initContainers"][0]["command"], paths), env=env, timeout=60)
    assert init.returncode == 0 and (stdio_dir / "in").is_fifo() and (stdio_dir / "out").is_fifo()

    processes.append(subprocess.Popen(_local(server["command"] + server["args"], paths), env=env))
    proxy_command = _local(proxy["command"], paths)
    proxy_command[proxy_command.index("--port") + 1] = str(port)
    processes.append(subprocess.Popen(proxy_command, env=env))

    probe = proxy["readinessProbe"]["httpGet"]["path"]
    wait_for_http(f"http://127.0.0.1:{port}{probe}", timeout=60)
    for _ in range(100):  # ready means 200 once the backend answered
        if httpx.get(f"http://127.0.0.1:{port}{probe}").status_code == 200:
            break
        await asyncio.sleep(0.2)
    assert httpx.get(f"http://127.0.0.1:{port}{probe}").status_code == 200

    async with Client(f"http://127.0.0.1:{port}/mcp") as client:
        tools = await client.list_tools()
        assert [tool.name for tool in tools.tools] == ["echo"]  # "add" withheld by the allowlist
        result = await client.call_tool("echo", {"text": "through the pod"})
        assert "through the pod" in str(result.content[0])
    assert await list_tools(f"http://127.0.0.1:{port}/mcp") == ["echo"]  # what status.observedTools shows

    egress = _by(manifests, "Deployment", "slack-mcp-egress")["spec"]["template"]["spec"]["containers"][0]
    egress_command = _local(
        egress["command"], {f"0.0.0.0:{egress['ports'][0]['containerPort']}": f"127.0.0.1:{egress_port}"}
    )
    processes.append(subprocess.Popen(egress_command, env=env, stdout=subprocess.DEVNULL))
    wait_for_http(f"http://127.0.0.1:{egress_port}/", timeout=30)
    via_proxy = httpx.Client(proxy=f"http://127.0.0.1:{egress_port}", timeout=10)
    assert via_proxy.get(f"http://127.0.0.1:{upstream}/").text == "upstream says hi"  # allowed literally
    denied = via_proxy.get(f"http://127.0.0.1:{free_port()}/")  # same host, port not in the allowlist
    assert denied.status_code == 403
    with socket.create_connection(("127.0.0.1", egress_port), timeout=10) as raw:
        raw.sendall(b"CONNECT evil.example.net:443 HTTP/1.1\r\nHost: evil.example.net:443\r\n\r\n")
        assert raw.recv(64).split(b" ")[1] == b"403"
    assert yaml.safe_load(gateway_yaml)["backends"][0]["tools"] == {"allow": ["echo"]}
