"""Run one registry API process for the crash test: ``serve_registry.py DATABASE_URL PORT TOKEN``."""

from __future__ import annotations

import sys

import uvicorn

from hivekeeper.registry import PublishToken, RegistrySettings, build_registry_app

database_url, port, token = sys.argv[1], int(sys.argv[2]), sys.argv[3]
settings = RegistrySettings(starter_catalogue=False, publish_tokens=[PublishToken(token=token)])
uvicorn.run(build_registry_app(database_url, settings), host="127.0.0.1", port=port, log_level="warning")
