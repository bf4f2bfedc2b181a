"""Real pieces for the gateway tests: an RSA key set served as JWKS over HTTP, token minting, an OTLP/HTTP
receiver collecting spans, and a gateway served by uvicorn inside the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from hivekeeper.gateway.app import Gateway
from hivekeeper.gateway.config import GatewayConfig
from hivekeeper.secrets import SecretStore
from tests.conftest import free_port

ISSUER = "https://idp.test"


class KeySet:
    """An RSA signing key whose public half is published as a JWKS document."""

    def __init__(self, kid: str) -> None:
        self.kid = kid
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwk(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        return {**data, "kid": self.kid, "use": "sig", "alg": "RS256"}

    def token(self, *, audience: str, subject: str = "alice", lifetime: float = 300, **claims: Any) -> str:
        now = int(time.time())
        payload = {"iss": ISSUER, "sub": subject, "aud": audience, "iat": now, "exp": now + int(lifetime), **claims}
        return jwt.encode(payload, self.private, algorithm="RS256", headers={"kid": self.kid})


class _Server:
    """A ThreadingHTTPServer on a free loopback port, stopped on exit."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.port = free_port()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@contextlib.contextmanager
def jwks_server(*keys: KeySet) -> Any:
    """Serves ``{"keys": [...]}`` at ``/jwks``; yields the URL and a hit counter."""
    document = json.dumps({"keys": [key.jwk() for key in keys]}).encode()
    hits = {"count": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits["count"] += 1
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(document)))
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, *args: Any) -> None:
            pass

    server = _Server(Handler)
    try:
        yield f"http://127.0.0.1:{server.port}/jwks", hits
    finally:
        server.close()


class OtlpReceiver:
    """Accepts OTLP/HTTP protobuf span exports and keeps every span, flattened to dicts."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        spans = self.spans

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                request = ExportTraceServiceRequest()
                request.ParseFromString(self.rfile.read(int(self.headers["content-length"])))
                spans.extend(_flatten(request))
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = _Server(Handler)
        self.url = f"http://127.0.0.1:{self.server.port}"

    def close(self) -> None:
        self.server.close()


class OtlpGrpcReceiver:
    """A real gRPC OTLP trace collector (the service collectors serve on 4317), keeping every span."""

    def __init__(self) -> None:
        import grpc
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

        self.spans: list[dict[str, Any]] = []
        spans = self.spans

        class Service(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(self, request: ExportTraceServiceRequest, context: Any) -> ExportTraceServiceResponse:
                spans.extend(_flatten(request))
                return ExportTraceServiceResponse()

        self.server = grpc.server(ThreadPoolExecutor(max_workers=2))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Service(), self.server)  # type: ignore[no-untyped-call]
        port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()
        self.url = f"http://127.0.0.1:{port}"

    def close(self) -> None:
        self.server.stop(grace=None)


def _flatten(request: ExportTraceServiceRequest) -> list[dict[str, Any]]:
    flat = []
    for resource_spans in request.resource_spans:
        service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                flat.append(
                    {
                        "name": span.name,
                        "kind": span.kind,
                        "trace_id": span.trace_id.hex(),
                        "parent_span_id": span.parent_span_id.hex(),
                        "status": span.status.code,
                        "service": service.get("service.name"),
                        "attributes": {a.key: _value(a.value) for a in span.attributes},
                    }
                )
    return flat


def _value(value: Any) -> Any:
    return getattr(value, value.WhichOneof("value")) if value.WhichOneof("value") else None


@contextlib.asynccontextmanager
async def serve_asgi(app: Any) -> AsyncIterator[str]:
    """Serve an ASGI app (lifespan included) on a free port in this event loop; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def serve_gateway(
    config: dict[str, Any], secrets: SecretStore | None = None
) -> AsyncIterator[tuple[str, Gateway]]:
    """Run a gateway from a config dict; yields its base URL and the gateway."""
    gateway = Gateway(GatewayConfig.model_validate(config), secrets=secrets)
    async with serve_asgi(gateway.app()) as url:
        yield url, gateway
