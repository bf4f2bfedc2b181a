"""The OpenAPI 3.1 document of the registry API, built from the shipped ``server.json`` schema."""

from __future__ import annotations

from functools import cache
from typing import Any

import orjson

from hivekeeper import __version__
from hivekeeper.registry.curation import CURATION_META, OFFICIAL_META
from hivekeeper.registry.validation import server_schema


def _components_refs(node: Any) -> Any:
    """Rewrite draft-07 ``#/definitions/X`` references to OpenAPI ``#/components/schemas/X``."""
    if isinstance(node, dict):
        return {
            key: (
                value.replace("#/definitions/", "#/components/schemas/") if key == "$ref" else _components_refs(value)
            )
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_components_refs(item) for item in node]
    return node


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/problem+json": {"schema": _ref("ErrorModel")}}}


def _path_param(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": {"type": "string"}}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


_SERVER_NAME = _path_param("serverName", "URL-encoded server name, e.g. io.github.acme%2Fweather")
_VERSION = _path_param("version", "URL-encoded exact version, or 'latest'")
_INCLUDE_DELETED = _query("include_deleted", {"type": "boolean", "default": False}, "Include deleted versions")
_AUTH_ERRORS = {
    "401": _problem("Missing or invalid bearer token"),
    "403": _problem("The token may not publish in this namespace"),
}


def _extra_schemas() -> dict[str, Any]:
    return {
        "ServerResponse": {
            "type": "object",
            "required": ["server"],
            "properties": {
                "server": _ref("ServerDetail"),
                "_meta": {
                    "type": "object",
                    "properties": {
                        OFFICIAL_META: {
                            "type": "object",
                            "properties": {
                                "status": {"type": "string", "enum": ["active", "deprecated", "deleted"]},
                                "statusMessage": {"type": "string", "maxLength": 500},
                                "statusChangedAt": {"type": "string", "format": "date-time"},
                                "publishedAt": {"type": "string", "format": "date-time"},
                                "updatedAt": {"type": "string", "format": "date-time"},
                                "isLatest": {"type": "boolean"},
                            },
                        },
                        CURATION_META: {
                            "type": "object",
                            "description": "hivekeeper curation: trust tier, transport, tools with description "
                            "hashes, permission profile, env vars and secrets, pinned artifacts, scan findings",
                        },
                    },
                },
            },
        },
        "ServerList": {
            "type": "object",
            "required": ["servers", "metadata"],
            "properties": {
                "servers": {"type": "array", "items": _ref("ServerResponse")},
                "metadata": {
                    "type": "object",
                    "properties": {"nextCursor": {"type": "string"}, "count": {"type": "integer"}},
                },
            },
        },
        "StatusUpdateRequest": {
            "type": "object",
            "required": ["status"],
            "properties": {
                "status": {"type": "string", "enum": ["active", "deprecated", "deleted"]},
                "statusMessage": {"type": "string", "maxLength": 500},
            },
        },
        "ErrorModel": {
            "type": "object",
            "properties": {
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"location": {"type": "string"}, "message": {"type": "string"}},
                    },
                },
            },
        },
    }


@cache
def _document_bytes() -> bytes:
    schemas = _components_refs(server_schema()["definitions"])
    schemas.update(_extra_schemas())
    status_body = {"required": True, "content": {"application/json": {"schema": _ref("StatusUpdateRequest")}}}
    document = {
        "openapi": "3.1.0",
        "info": {
            "title": "hivekeeper MCP server registry",
            "version": __version__,
            "description": "Compatible with the official MCP Registry API; curation under _meta.",
        },
        "paths": {
            "/v0.1/servers": {
                "get": {
                    "summary": "List servers",
                    "parameters": [
                        _query("cursor", {"type": "string"}, "Opaque cursor from metadata.nextCursor"),
                        _query("limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 30}, "Page size"),
                        _query("search", {"type": "string"}, "Substring of the name, title or description"),
                        _query(
                            "updated_since", {"type": "string", "format": "date-time"}, "RFC 3339; includes deleted"
                        ),
                        _query("version", {"type": "string"}, "'latest' or an exact version"),
                        _INCLUDE_DELETED,
                    ],
                    "responses": {"200": _json(_ref("ServerList"), "A page of servers"), "400": _problem("Bad query")},
                }
            },
            "/v0.1/servers/{serverName}/versions": {
                "get": {
                    "summary": "List the versions of a server, newest first",
                    "parameters": [_SERVER_NAME, _INCLUDE_DELETED],
                    "responses": {"200": _json(_ref("ServerList"), "All versions"), "404": _problem("Unknown server")},
                }
            },
            "/v0.1/servers/{serverName}/versions/{version}": {
                "get": {
                    "summary": "Get one version ('latest' for the latest)",
                    "parameters": [_SERVER_NAME, _VERSION, _INCLUDE_DELETED],
                    "responses": {"200": _json(_ref("ServerResponse"), "The version"), "404": _problem("Not found")},
                }
            },
            "/v0.1/servers/{serverName}/versions/{version}/status": {
                "patch": {
                    "summary": "Set the status of one version",
                    "security": [{"bearerAuth": []}],
                    "parameters": [_SERVER_NAME, _VERSION],
                    "requestBody": status_body,
                    "responses": {"200": _json(_ref("ServerResponse"), "Updated"), **_AUTH_ERRORS},
                }
            },
            "/v0.1/servers/{serverName}/status": {
                "patch": {
                    "summary": "Set the status of every version",
                    "security": [{"bearerAuth": []}],
                    "parameters": [_SERVER_NAME],
                    "requestBody": status_body,
                    "responses": {"200": {"description": "Updated versions"}, **_AUTH_ERRORS},
                }
            },
            "/v0.1/publish": {
                "post": {
                    "summary": "Publish a server version",
                    "security": [{"bearerAuth": []}],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("ServerDetail")}},
                    },
                    "responses": {
                        "200": _json(_ref("ServerResponse"), "Published"),
                        **_AUTH_ERRORS,
                        "409": _problem("This version is already published"),
                        "413": _problem("Body too large"),
                        "422": _problem("server.json breaks the schema; errors name each field"),
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas,
        },
    }
    return orjson.dumps(document)


def openapi_document() -> dict[str, Any]:
    document: dict[str, Any] = orjson.loads(_document_bytes())
    return document


__all__ = ["openapi_document"]
