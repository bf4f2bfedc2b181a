"""The 2026-07-28 per-request envelope: the ``_meta`` keys every request carries, the ``Mcp-*`` HTTP headers
that mirror them, and the HTTP status each JSON-RPC error maps to.

Written against the spec (transports, "Per-request protocol fields") rather than imported from the SDK, whose
``mcp.shared.inbound`` pulls in the whole pydantic schema (~50 MB); the checks and their order match the SDK's,
so clients see the same errors from the proxy as from an SDK server.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from hivekeeper.transport.jsonrpc import (
    CLIENT_CAPABILITIES_META_KEY,
    CLIENT_INFO_META_KEY,
    HEADER_MISMATCH,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    MODERN_PROTOCOL_VERSIONS,
    PARSE_ERROR,
    PROTOCOL_VERSION_META_KEY,
    UNSUPPORTED_PROTOCOL_VERSION,
    Message,
)

NAME_BEARING_METHODS: Final[Mapping[str, str]] = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}
"""Methods whose ``Mcp-Name`` header mirrors a params field."""

MISSING_REQUIRED_CLIENT_CAPABILITY: Final = -32021
ERROR_HTTP_STATUS: Final[Mapping[int, int]] = {
    PARSE_ERROR: 400,
    INVALID_REQUEST: 400,
    INVALID_PARAMS: 400,
    HEADER_MISMATCH: 400,
    MISSING_REQUIRED_CLIENT_CAPABILITY: 400,
    UNSUPPORTED_PROTOCOL_VERSION: 400,
    METHOD_NOT_FOUND: 404,
}
"""HTTP status of a 2026-era reply carrying this error code; anything else is 200."""

_BASE64_SENTINEL = re.compile(r"^=\?base64\?(?P<payload>.*)\?=$")
_HEADER_SAFE = re.compile(r"^[\x20-\x7E]*$")


@dataclass(frozen=True)
class Envelope:
    """A request's accepted envelope."""

    protocol_version: str
    client_capabilities: Message
    client_info: Message | None


@dataclass(frozen=True)
class EnvelopeError:
    code: int
    message: str
    data: Any = None


def encode_header_value(value: str) -> str:
    """A header-safe rendering: plain printable ASCII as is, anything else as ``=?base64?...?=``."""
    if _HEADER_SAFE.fullmatch(value) and value == value.strip() and not _BASE64_SENTINEL.fullmatch(value):
        return value
    return f"=?base64?{base64.b64encode(value.encode()).decode('ascii')}?="


def decode_header_value(value: str | None) -> str | None:
    """Inverse of ``encode_header_value``; None for a malformed sentinel so it never matches by accident."""
    if value is None:
        return None
    match = _BASE64_SENTINEL.fullmatch(value)
    if match is None:
        return value
    payload = match.group("payload")
    try:
        decoded = base64.b64decode(payload, validate=True)
        if base64.b64encode(decoded).decode("ascii") != payload:
            return None
        return decoded.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


def unsupported_version(requested: Any) -> EnvelopeError:
    return EnvelopeError(
        UNSUPPORTED_PROTOCOL_VERSION,
        "Unsupported protocol version",
        {"supported": list(MODERN_PROTOCOL_VERSIONS), "requested": requested},
    )


def check_request(message: Message, headers: Mapping[str, str]) -> Envelope | EnvelopeError:
    """Check a 2026-era request: the envelope is present, the headers agree with the body, the version is ours.

    Header disagreement is reported before an unsupported version, so a client contradicting itself is told so.
    """
    params = message.get("params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    if not isinstance(meta, dict):
        return EnvelopeError(
            INVALID_PARAMS,
            f"params._meta must be an object carrying the required {PROTOCOL_VERSION_META_KEY!r} and "
            f"{CLIENT_CAPABILITIES_META_KEY!r} envelope keys",
        )
    missing = [key for key in (PROTOCOL_VERSION_META_KEY, CLIENT_CAPABILITIES_META_KEY) if key not in meta]
    if missing:
        return EnvelopeError(
            INVALID_PARAMS, f"params._meta is missing the required envelope key(s): {', '.join(missing)}"
        )
    version = meta[PROTOCOL_VERSION_META_KEY]
    if headers.get("mcp-protocol-version") != version:
        return EnvelopeError(
            HEADER_MISMATCH, "mcp-protocol-version header does not match the request envelope's protocol version"
        )
    method = message.get("method")
    if headers.get("mcp-method") != method:
        return EnvelopeError(HEADER_MISMATCH, "mcp-method header does not match the request body's method")
    name_key = NAME_BEARING_METHODS.get(str(method))
    if name_key is not None and isinstance(params, dict):
        body_value = params.get(name_key)
        if body_value is not None and decode_header_value(headers.get("mcp-name")) != body_value:
            return EnvelopeError(
                HEADER_MISMATCH, f"mcp-name header does not match the request body's {name_key!r} parameter"
            )
    if version not in MODERN_PROTOCOL_VERSIONS:
        return unsupported_version(version)
    capabilities = meta[CLIENT_CAPABILITIES_META_KEY]
    info = meta.get(CLIENT_INFO_META_KEY)
    return Envelope(
        protocol_version=version,
        client_capabilities=capabilities if isinstance(capabilities, dict) else {},
        client_info=info if isinstance(info, dict) else None,
    )


def request_headers(message: Message, protocol_version: str) -> dict[str, str]:
    """The ``Mcp-*`` headers a 2026-era request must carry over HTTP (what a client, or the proxy upstream, sends)."""
    method = str(message.get("method"))
    headers = {"mcp-protocol-version": protocol_version, "mcp-method": method}
    name_key = NAME_BEARING_METHODS.get(method)
    params = message.get("params")
    if name_key is not None and isinstance(params, dict) and isinstance(params.get(name_key), str):
        headers["mcp-name"] = encode_header_value(params[name_key])
    return headers


__all__ = [
    "ERROR_HTTP_STATUS",
    "NAME_BEARING_METHODS",
    "Envelope",
    "EnvelopeError",
    "check_request",
    "decode_header_value",
    "encode_header_value",
    "request_headers",
    "unsupported_version",
]
