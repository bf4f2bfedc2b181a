"""Telemetry link: an OpenTelemetry span per request following the MCP semantic conventions (trace
context read from and written to ``params._meta``, so backends continue the trace), and Prometheus
metrics served at ``/metrics``.

The tracer provider is the gateway's own, not the process-global one: several gateways (and other parts
of ``hivekeeper serve``) can export to different places without stepping on each other.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any

from opentelemetry.propagate import extract, inject
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Span, SpanKind, StatusCode, Tracer, get_current_span
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from hivekeeper import __version__
from hivekeeper.errors import ConfigError
from hivekeeper.gateway.chain import Call, Handler, Outcome, Result, observe
from hivekeeper.gateway.config import TelemetryConfig

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
# Tool search saves most when lists are long: resolve the top end finely.
_REDUCTION_BUCKETS = (0.0, 0.25, 0.5, 0.75, 0.9, 0.95, 0.98, 0.99, 0.995, 1.0)


class Metrics:
    """The gateway's Prometheus metrics, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        prefix = "hivekeeper_gateway"
        self.requests = Counter(
            f"{prefix}_requests", "MCP requests handled", ["method", "backend", "outcome"], registry=self.registry
        )
        self.duration = Histogram(
            f"{prefix}_request_duration_seconds",
            "Time to answer an MCP request",
            ["method", "backend"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.tool_calls = Counter(
            f"{prefix}_tool_calls", "tools/call requests", ["tool", "backend", "outcome"], registry=self.registry
        )
        self.errors = Counter(
            f"{prefix}_errors", "Requests answered with an error", ["method", "backend", "code"], registry=self.registry
        )
        self.active_sessions = Gauge(f"{prefix}_active_sessions", "Open client sessions", registry=self.registry)
        self.backend_up = Gauge(
            f"{prefix}_backend_up", "1 when the backend answers", ["backend"], registry=self.registry
        )
        self.integrity_alerts = Counter(
            f"{prefix}_integrity_alerts", "Tool definitions withheld or flagged", ["backend"], registry=self.registry
        )
        self.policy_reloads = Counter(
            "hivekeeper_policy_reloads",
            "Reloads of the Cedar policy file: ok, or error (the last good policy stays in force)",
            ["result"],
            registry=self.registry,
        )
        # Tool search: savings over any window are 1 - rate(selected_tokens) / rate(full_tokens).
        self.search_selections = Counter(
            f"{prefix}_search_selections", "Tool selections made by tool search", ["mode"], registry=self.registry
        )
        self.search_selected_tokens = Counter(
            f"{prefix}_search_selected_tokens",
            "cl100k tokens of the tool definitions selections returned",
            ["mode"],
            registry=self.registry,
        )
        self.search_full_tokens = Counter(
            f"{prefix}_search_full_tokens",
            "cl100k tokens of the caller's whole tool list, what each selection would have cost without search",
            ["mode"],
            registry=self.registry,
        )
        self.search_reduction = Histogram(
            f"{prefix}_search_token_reduction_ratio",
            "Share of the whole list's tool tokens a selection did not send",
            ["mode"],
            buckets=_REDUCTION_BUCKETS,
            registry=self.registry,
        )
        self.search_duration = Histogram(
            f"{prefix}_search_duration_seconds",
            "Time to rank the caller's tools and count their tokens, per selection",
            ["mode"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )

    def record_selection(self, mode: str, selected_tokens: int, full_tokens: int, seconds: float) -> None:
        """One tool-search selection: ``mode`` is ``meta`` or ``dynamic`` (find_tools) or ``prompt``."""
        self.search_selections.labels(mode).inc()
        self.search_selected_tokens.labels(mode).inc(selected_tokens)
        self.search_full_tokens.labels(mode).inc(full_tokens)
        if full_tokens:
            self.search_reduction.labels(mode).observe(1.0 - selected_tokens / full_tokens)
        self.search_duration.labels(mode).observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def build_tracer(config: TelemetryConfig) -> tuple[Tracer, TracerProvider] | None:
    if not config.otlp_endpoint:
        return None
    resource = Resource.create({"service.name": config.service_name, "service.version": __version__})
    provider = TracerProvider(resource=resource, sampler=ParentBased(TraceIdRatioBased(config.sample_ratio)))
    exporter = _exporter(config.otlp_endpoint, config.otlp_protocol)
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=500))
    return provider.get_tracer("hivekeeper.gateway", __version__), provider


def _exporter(endpoint: str, protocol: str) -> SpanExporter:
    if protocol == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
        except ImportError:
            raise ConfigError(
                "telemetry.otlp_protocol: grpc needs the gRPC exporter: pip install 'hivekeeper[otlp-grpc]'"
            ) from None
        # An http:// URL means plaintext, as collectors on 4317 usually are inside a cluster or host.
        return GrpcExporter(endpoint=endpoint, insecure=endpoint.startswith("http://"))
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    return HttpExporter(endpoint=endpoint.rstrip("/") + "/v1/traces")


def _span_attributes(call: Call) -> dict[str, Any]:
    attributes: dict[str, Any] = {"mcp.method.name": call.method}
    if call.session_id:
        attributes["mcp.session.id"] = call.session_id
    if call.protocol_version:
        attributes["mcp.protocol.version"] = call.protocol_version
    if call.request_id is not None:
        attributes["jsonrpc.request.id"] = str(call.request_id)
    target = call.target
    if call.method == "tools/call" and target:
        attributes["gen_ai.operation.name"] = "execute_tool"
        attributes["gen_ai.tool.name"] = target
    elif call.method == "prompts/get" and target:
        attributes["gen_ai.prompt.name"] = target
    elif call.method.startswith("resources/") and target:
        attributes["mcp.resource.uri"] = target
    attributes["enduser.id"] = call.caller.subject
    return attributes


class Telemetry:
    """The chain link."""

    def __init__(self, metrics: Metrics | None, tracer: Tracer | None) -> None:
        self.metrics = metrics
        self.tracer = tracer

    async def __call__(self, call: Call, call_next: Handler) -> Result:
        if self.tracer is None:
            return await observe(call, call_next, partial(self._finish, call, None, time.perf_counter()))
        meta = call.params.get("_meta")
        parent = extract(meta) if isinstance(meta, dict) else None
        target = call.target if call.method in ("tools/call", "prompts/get") else None
        name = f"{call.method} {target}" if target else call.method
        with self.tracer.start_as_current_span(
            name, kind=SpanKind.SERVER, context=parent, attributes=_span_attributes(call), record_exception=False
        ) as span:
            carrier: dict[str, Any] = dict(meta) if isinstance(meta, dict) else {}
            inject(carrier)  # the backend continues this trace (stdio and HTTP alike carry _meta)
            call.params = {**call.params, "_meta": carrier}
            return await observe(call, call_next, partial(self._finish, call, span, time.perf_counter()))

    def _finish(self, call: Call, span: Span | None, started: float, outcome: Outcome, _result: Result | None) -> None:
        """The call's one outcome, counted in the metrics and marked on its span."""
        if self.metrics is not None:
            _count(self.metrics, call, time.perf_counter() - started, outcome)
        if span is not None:
            _mark_span(span, call, outcome)


def _count(metrics: Metrics, call: Call, seconds: float, outcome: Outcome) -> None:
    backend = call.backend or ""
    if outcome.code is not None:
        metrics.errors.labels(call.method, backend, str(outcome.code)).inc()
    metrics.requests.labels(call.method, backend, outcome.label).inc()
    metrics.duration.labels(call.method, backend).observe(seconds)
    if call.method == "tools/call":
        metrics.tool_calls.labels(call.target or "", backend, outcome.label).inc()


def _mark_span(span: Span, call: Call, outcome: Outcome) -> None:
    if call.backend:
        span.set_attribute("hivekeeper.backend", call.backend)
    if outcome.label == "tool_error":
        span.set_attribute("error.type", "tool_error")
        span.set_status(StatusCode.ERROR)
    elif outcome.code is not None:
        span.set_attributes({"error.type": str(outcome.code), "rpc.response.status_code": str(outcome.code)})
        span.set_status(StatusCode.ERROR, outcome.message)


def current_trace_id() -> str | None:
    context = get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None
