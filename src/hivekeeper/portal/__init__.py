"""The web portal served at ``/`` by ``hivekeeper serve``: catalogue, server pages with one-click run,
workloads with logs, audit events and a tool-search playground. Server-rendered HTML from the installed
package (Jinja2 templates, one small optional script), no build step.

    routes = build_portal_routes(registry, PortalSettings(audit_file=Path("audit.ndjson")))
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from starlette.routing import BaseRoute

from hivekeeper.portal.app import Portal, PortalServices
from hivekeeper.portal.services import Workloads, default_tool_search, default_workloads
from hivekeeper.registry import Registry
from hivekeeper.registry.db import without_password


class PortalSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    audit_file: Path | None = Field(default=None, description="The gateway's audit NDJSON file to show.")
    workloads: bool = Field(default=True, description="Run servers through the workloads manager (else show commands).")
    tool_search: bool = Field(default=True, description="Semantic search over the tools entries declare.")


def build_portal_routes(
    registry: Registry, settings: PortalSettings | None = None, *, workloads: Workloads | None = None
) -> list[BaseRoute]:
    """The portal's routes over an open registry; ``workloads`` overrides the manager (tests, embedding)."""
    settings = settings or PortalSettings()
    services = PortalServices(
        store=registry.store,
        registry_database=without_password(registry.database_url),
        workloads=workloads if workloads is not None else (default_workloads() if settings.workloads else None),
        tool_search=default_tool_search(registry.store) if settings.tool_search else None,
        audit_file=settings.audit_file,
    )
    return Portal(services).routes()


__all__ = ["Portal", "PortalServices", "PortalSettings", "build_portal_routes"]
