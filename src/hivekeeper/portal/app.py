"""The portal: server-rendered pages over the registry, the workloads manager, audit and tool search.

Plain HTML forms do every action (run, stop, start, remove), so the portal works without JavaScript;
``portal.js`` only adds conveniences. State-changing requests must come from the portal's own pages.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from hivekeeper import __version__
from hivekeeper.errors import HivekeeperError, NotFoundError
from hivekeeper.portal.launch import launch_warnings, plan, run_command, workload_spec
from hivekeeper.portal.services import ToolSearch, Workloads, audit_events
from hivekeeper.registry.curation import CURATION_META, OFFICIAL_META, TrustTier
from hivekeeper.registry.store import Entry, RegistryStore

PAGE_SIZE = 50
RUN_WARNINGS_KEPT = 64  # recent runs whose warnings the page after the redirect can still show
_SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}


@dataclass
class PortalServices:
    store: RegistryStore
    registry_database: str  # the store's URL: the manager resolves the entries the portal starts there
    workloads: Workloads | None
    tool_search: ToolSearch | None
    audit_file: Path | None


def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("hivekeeper.portal", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["urlname"] = lambda name: quote(str(name), safe="/")
    environment.globals["version"] = __version__
    return environment


def _card(entry: Entry) -> dict[str, Any]:
    findings = entry.findings
    return {
        "name": entry.name,
        "title": entry.server.get("title") or entry.name.rsplit("/", 1)[-1],
        "description": entry.server.get("description", ""),
        "version": entry.version,
        "tier": str(entry.trust_tier),
        "status": str(entry.status),
        "transport": entry.curation.get("transport"),
        "tools": len(entry.curation.get("tools") or []),
        "high_findings": sum(1 for finding in findings if finding.get("severity") == "high"),
        "findings": len(findings),
    }


class Portal:
    def __init__(self, services: PortalServices) -> None:
        self.services = services
        # Warnings of recent runs by an unguessable token: the redirect after a run carries the token, never
        # the text, so a crafted link cannot make the portal show words of someone else's choosing.
        self._run_warnings: OrderedDict[str, list[str]] = OrderedDict()
        self.templates = _environment()
        # Compile every template now, not during someone's first page view.
        for name in self.templates.list_templates(extensions=["html", "css"]):
            self.templates.get_template(name)
        # Likewise SQLAlchemy compiles (and caches) the catalogue query on its first use.
        services.store.list(version="latest", limit=1)

    def routes(self) -> list[BaseRoute]:
        static = Path(__file__).with_name("static")
        return [
            Route("/", self.catalogue),
            Route("/portal/servers/{name:path}/run", self.run, methods=["POST"]),
            Route("/portal/servers/{name:path}", self.server_page),
            Route("/portal/workloads", self.workloads_page),
            Route("/portal/workloads/{name}/logs", self.workload_logs),
            Route("/portal/workloads/{name}/{action}", self.workload_action, methods=["POST"]),
            Route("/portal/audit", self.audit_page),
            Route("/portal/playground", self.playground),
            Mount("/portal/static", StaticFiles(directory=static), name="portal-static"),
        ]

    def _page(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = self.templates.get_template(template).render(**context)
        return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})

    # -- catalogue ------------------------------------------------------------------------------------

    async def catalogue(self, request: Request) -> Response:
        query = request.query_params.get("q", "").strip()[:200]
        tier_text = request.query_params.get("tier", "")
        tier = TrustTier(tier_text) if tier_text in {str(t) for t in TrustTier} else None
        page = await run_in_threadpool(
            self.services.store.list,
            search=query or None,
            version="latest",
            limit=PAGE_SIZE,
            cursor=request.query_params.get("cursor") or None,
            tier=tier,
        )
        cards = [_card(entry) for entry in page.entries]
        semantic: list[dict[str, Any]] = []
        if query and self.services.tool_search is not None:
            shown = {card["name"] for card in cards}
            for name, tools in await run_in_threadpool(self.services.tool_search.servers_for, query):
                if name in shown:
                    continue
                try:
                    entry = await run_in_threadpool(self.services.store.get, name)
                except NotFoundError:
                    continue
                if tier is None or entry.trust_tier is tier:
                    semantic.append({**_card(entry), "matching_tools": tools})
        return self._page(
            "catalogue.html",
            query=query,
            tier=tier_text,
            tiers=[str(t) for t in TrustTier],
            cards=cards,
            semantic=semantic,
            next_cursor=page.next_cursor,
        )

    # -- one server -----------------------------------------------------------------------------------

    async def _entry(self, request: Request) -> Entry:
        version = request.query_params.get("version") or "latest"
        return await run_in_threadpool(self.services.store.get, request.path_params["name"], version)

    async def server_page(self, request: Request) -> Response:
        try:
            entry = await self._entry(request)
        except NotFoundError as exc:
            return self._page("error.html", status=404, title="Not found", message=exc.message)
        return await self._server_view(entry)

    async def _server_view(
        self,
        entry: Entry,
        *,
        status: int = 200,
        error: str | None = None,
        command: str | None = None,
        form: Mapping[str, str] | None = None,
    ) -> HTMLResponse:
        response = entry.to_response()
        try:
            run_plan, run_error = plan(response), None
        except HivekeeperError as exc:
            run_plan, run_error = None, exc.message
        warnings = [] if run_plan is None else await run_in_threadpool(self._launch_warnings, response, form or {})
        versions = await run_in_threadpool(self.services.store.versions, entry.name)
        findings = sorted(entry.findings, key=lambda f: (_SEVERITY_ORDER.get(f.get("severity", ""), 9), f["location"]))
        curation = response["_meta"][CURATION_META]
        return self._page(
            "server.html",
            status=status,
            entry=entry,
            card=_card(entry),
            server=entry.server,
            official=response["_meta"][OFFICIAL_META],
            curation=curation,
            findings=findings,
            versions=[version.version for version in versions],
            plan=run_plan,
            run_error=run_error,
            error=error,
            command=command,
            form=form or {},
            launch_warnings=warnings,
            can_run=self.services.workloads is not None,
        )

    def _launch_warnings(self, response: Mapping[str, Any], form: Mapping[str, str]) -> list[str]:
        try:
            return launch_warnings(response, form, registry_database=self.services.registry_database)
        except HivekeeperError:
            return []  # the form as given would not run (the run, or the command, says why): no warning yet

    async def run(self, request: Request) -> Response:
        if not _same_origin(request):
            return self._page("error.html", status=403, title="Refused", message="cross-site form submission refused")
        try:
            entry = await self._entry(request)
        except NotFoundError as exc:
            return self._page("error.html", status=404, title="Not found", message=exc.message)
        form = {key: str(value) for key, value in (await request.form()).items()}
        try:
            spec = workload_spec(entry.to_response(), form, registry_database=self.services.registry_database)
        except HivekeeperError as exc:
            return await self._server_view(entry, status=422, error=exc.message, form=form)
        command = run_command(spec)
        if self.services.workloads is None or form.get("mode") == "command":
            return await self._server_view(entry, command=command, form=form)
        try:
            record = await run_in_threadpool(self.services.workloads.run, spec)
        except HivekeeperError as exc:
            return await self._server_view(entry, status=422, error=exc.message, command=command, form=form)
        location = f"/portal/workloads?started={quote(str(record.get('name', '')))}"
        warnings = [str(warning) for warning in record.get("warnings") or ()]
        if warnings:
            location += f"&run={self._keep_run_warnings(warnings)}"
        return RedirectResponse(location, status_code=303)

    def _keep_run_warnings(self, warnings: list[str]) -> str:
        token = secrets.token_urlsafe(16)
        self._run_warnings[token] = warnings
        while len(self._run_warnings) > RUN_WARNINGS_KEPT:
            self._run_warnings.popitem(last=False)
        return token

    # -- workloads ------------------------------------------------------------------------------------

    async def workloads_page(self, request: Request) -> Response:
        if self.services.workloads is None:
            return self._page("workloads.html", workloads=[], unavailable="the workloads manager is not installed")
        try:
            workloads = await run_in_threadpool(self.services.workloads.list)
        except HivekeeperError as exc:
            return self._page("workloads.html", workloads=[], unavailable=exc.message)
        return self._page(
            "workloads.html",
            workloads=workloads,
            unavailable=None,
            started=request.query_params.get("started"),
            warnings=self._run_warnings.get(request.query_params.get("run", ""), []),
        )

    async def workload_logs(self, request: Request) -> Response:
        name = request.path_params["name"]
        text = (
            "" if self.services.workloads is None else await run_in_threadpool(self.services.workloads.log_tail, name)
        )
        return self._page("logs.html", name=name, text=text)

    async def workload_action(self, request: Request) -> Response:
        action, name = request.path_params["action"], request.path_params["name"]
        if not _same_origin(request):
            return self._page("error.html", status=403, title="Refused", message="cross-site form submission refused")
        if self.services.workloads is None or action not in ("stop", "start", "restart", "remove"):
            return self._page("error.html", status=404, title="Not found", message=f"no action {action!r}")
        try:
            await run_in_threadpool(self.services.workloads.act, action, name)
        except HivekeeperError as exc:
            return self._page("error.html", status=422, title=f"Could not {action} {name}", message=exc.message)
        return RedirectResponse("/portal/workloads", status_code=303)

    # -- audit and playground -------------------------------------------------------------------------

    async def audit_page(self, request: Request) -> Response:
        text = request.query_params.get("q", "")[:200]
        events = await run_in_threadpool(audit_events, self.services.audit_file, text=text)
        return self._page("audit.html", events=events, query=text, audit_file=self.services.audit_file)

    async def playground(self, request: Request) -> Response:
        query = request.query_params.get("q", "").strip()[:4000]
        try:
            k = max(1, min(20, int(request.query_params.get("k", "5"))))
        except ValueError:
            k = 5
        selection = None
        if query and self.services.tool_search is not None:
            selection = await run_in_threadpool(self.services.tool_search.select, query, k)
        return self._page(
            "playground.html", query=query, k=k, selection=selection, available=self.services.tool_search is not None
        )


def _same_origin(request: Request) -> bool:
    """Forms may be posted only from the portal's own pages (a CSRF guard that needs no token)."""
    if request.headers.get("sec-fetch-site") in ("cross-site", "same-site"):
        return False
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host", "")


__all__ = ["Portal", "PortalServices"]
