"""JSON-RPC 2.0 messages as plain dicts, the MCP error codes, and the era-specific field names.

The transport passes messages through as decoded JSON (orjson), never as pydantic models: validating every
message on the hot path would cost more than the proxying itself.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

# Spec constants, written out rather than imported: importing ``mcp``/``mcp_types`` builds pydantic models for
# the whole schema (~50 MB of RSS), and a proxy per server must stay small.
PARSE_ERROR: Final = -32700
INVALID_REQUEST: Final = -32600
METHOD_NOT_FOUND: Final = -32601
INVALID_PARAMS: Final = -32602
INTERNAL_ERROR: Final = -32603
CONNECTION_CLOSED: Final = -32000
REQUEST_TIMEOUT: Final = -32001
HEADER_MISMATCH: Final = -32020
UNSUPPORTED_PROTOCOL_VERSION: Final = -32022

HANDSHAKE_PROTOCOL_VERSIONS: Final = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
MODERN_PROTOCOL_VERSIONS: Final = ("2026-07-28",)
LATEST_HANDSHAKE_VERSION: Final = HANDSHAKE_PROTOCOL_VERSIONS[-1]
LATEST_MODERN_VERSION: Final = MODERN_PROTOCOL_VERSIONS[-1]

PROTOCOL_VERSION_META_KEY: Final = "io.modelcontextprotocol/protocolVersion"
CLIENT_INFO_META_KEY: Final = "io.modelcontextprotocol/clientInfo"
CLIENT_CAPABILITIES_META_KEY: Final = "io.modelcontextprotocol/clientCapabilities"
LOG_LEVEL_META_KEY: Final = "io.modelcontextprotocol/logLevel"
SERVER_INFO_META_KEY: Final = "io.modelcontextprotocol/serverInfo"

Message = dict[str, Any]
RequestId = str | int

REQUEST_CANCELLED: Final = -32800
"""The client cancelled the request (LSP's code; MCP defines none, and a cancelled call still needs an answer
on an HTTP stream the proxy holds open)."""

ENVELOPE_META_KEYS: Final = (
    PROTOCOL_VERSION_META_KEY,
    CLIENT_INFO_META_KEY,
    CLIENT_CAPABILITIES_META_KEY,
    LOG_LEVEL_META_KEY,
)
"""The 2026-07-28 per-request ``_meta`` keys a 2025-era server has never heard of."""

MODERN_ONLY_RESULT_KEYS: Final = ("resultType", "ttlMs", "cacheScope")
LIST_METHODS: Final = frozenset({"tools/list", "prompts/list", "resources/list", "resources/templates/list"})
INPUT_REQUIRED: Final = "input_required"

dumps = orjson.dumps
loads = orjson.loads


class RpcError(Exception):
    """A JSON-RPC error to hand back to whoever sent the request."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_error(self) -> Message:
        error: Message = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


def error_body(code: int, message: str, data: Any = None) -> Message:
    """A response body (no ``id``) carrying one error."""
    return {"error": RpcError(code, message, data).to_error()}


def as_object(value: Any) -> Message:
    """``value`` if it is a JSON object, else an empty one (for reading optional ``params``/``_meta``)."""
    return value if isinstance(value, dict) else {}


def is_request_id(value: Any) -> bool:
    # bool is an int subclass, but JSON-RPC ids are strings or numbers.
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def negotiate_handshake_version(requested: Any) -> str:
    """The 2025-era version to answer an ``initialize`` with: the client's own if we speak it."""
    return requested if requested in HANDSHAKE_PROTOCOL_VERSIONS else LATEST_HANDSHAKE_VERSION


__all__ = [
    "CLIENT_CAPABILITIES_META_KEY",
    "CLIENT_INFO_META_KEY",
    "CONNECTION_CLOSED",
    "ENVELOPE_META_KEYS",
    "HANDSHAKE_PROTOCOL_VERSIONS",
    "HEADER_MISMATCH",
    "INPUT_REQUIRED",
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "LATEST_HANDSHAKE_VERSION",
    "LATEST_MODERN_VERSION",
    "LIST_METHODS",
    "METHOD_NOT_FOUND",
    "MODERN_ONLY_RESULT_KEYS",
    "MODERN_PROTOCOL_VERSIONS",
    "PARSE_ERROR",
    "PROTOCOL_VERSION_META_KEY",
    "REQUEST_CANCELLED",
    "REQUEST_TIMEOUT",
    "SERVER_INFO_META_KEY",
    "UNSUPPORTED_PROTOCOL_VERSION",
    "Message",
    "RequestId",
    "RpcError",
    "as_object",
    "dumps",
    "error_body",
    "is_request_id",
    "loads",
    "negotiate_handshake_version",
]
