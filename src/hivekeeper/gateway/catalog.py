"""Aggregation: the tools, prompts and resources of many backends merged into one server's view, with
name conflicts resolved by rule, and the routing table from an exposed name back to its backend.

Per backend, tools pass the filter (allow/deny, renames, description overrides) and the integrity guard
before they are merged. A backend that is down keeps its last known entries, whose calls fail with an
error naming the backend (``unavailable: fail``), or loses them until it is back (``unavailable: hide``).
Backends may join and leave a running group (``add``, ``replace``, ``remove``); clients hear of it through
``list_changed``.

Resource URIs and URI templates follow the same conflict rule as names. ``prefix`` rewrites them keeping
their scheme, with the backend's name as the first segment after it (the layout FastMCP's ``mount`` uses):
``config://settings`` → ``config://files/settings``, ``file:///srv/a`` → ``file://files//srv/a``,
``urn:x:y`` → ``urn:files/x:y``. The result is still a URI of the same scheme, and a URI no list mentioned
(an instance of a template) routes by that segment. A reference without a scheme (``notes/{id}``,
``{path}``) gets the name as its first path segment (``files/notes/{id}``) and routes back by it the same
way. Updates a backend reports (``notifications/resources/updated``) reach clients under the exposed URI.
``priority`` keeps URIs as they are and the earlier backend wins; ``manual`` withholds a clashing URI, and
reading it says which backends clash.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from hivekeeper.gateway.chain import DENIED, UNAVAILABLE, RpcError
from hivekeeper.gateway.filters import ToolFilter
from hivekeeper.gateway.integrity import IntegrityGuard, Verdict
from hivekeeper.transport.backend import Backend
from hivekeeper.transport.jsonrpc import INVALID_PARAMS, METHOD_NOT_FOUND, Message, error_body

log = logging.getLogger("hivekeeper.gateway")

ConflictRule = Literal["prefix", "priority", "manual"]
UnavailableRule = Literal["fail", "hide"]
Kind = Literal["tools", "prompts", "resources"]
KINDS: tuple[Kind, ...] = ("tools", "prompts", "resources")

READY_WAIT = 0.5  # seconds a refresh waits for a restarting backend before listing it as unavailable
RECONNECT_FIRST, RECONNECT_MAX = 1.0, 30.0  # backoff between attempts to start a backend that failed to
MAX_PAGES = 100  # a backend paginating forever must not hang the gateway
_RESOURCE_UPDATED = "notifications/resources/updated"
_LIST_CHANGED = {
    "notifications/tools/list_changed": "tools",
    "notifications/prompts/list_changed": "prompts",
    "notifications/resources/list_changed": "resources",
}


@dataclass(frozen=True)
class Route:
    backend: Backend
    original: str  # the name (or URI) the backend knows


@dataclass
class Member:
    """One backend of the group and what it served last."""

    backend: Backend
    filter: ToolFilter = field(default_factory=ToolFilter)
    tools: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (backend name, exposed tool)
    withheld: dict[str, str] = field(default_factory=dict)  # backend tool name → why
    prompts: list[dict[str, Any]] = field(default_factory=list)
    resources: list[dict[str, Any]] = field(default_factory=list)
    templates: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = "not started"

    @property
    def name(self) -> str:
        return self.backend.name

    @property
    def up(self) -> bool:
        return self.error is None and self.backend.ready


class Catalog:
    """The merged view over ``members`` (in priority order) and the routes behind it."""

    def __init__(
        self,
        members: Sequence[Member],
        *,
        conflict: ConflictRule = "prefix",
        separator: str = "_",
        unavailable: UnavailableRule = "fail",
        guard: IntegrityGuard | None = None,
        on_changed: Callable[[Kind], Awaitable[None]] | None = None,
        on_resource_updated: Callable[[Message], Awaitable[None]] | None = None,
    ) -> None:
        self.members = {member.name: member for member in members}
        self.conflict = conflict
        self.separator = separator
        self.unavailable = unavailable
        self.guard = guard
        self.on_changed = on_changed
        self.on_resource_updated = on_resource_updated
        self._tools: dict[str, tuple[Member, str, dict[str, Any]]] = {}
        self._tool_problems: dict[str, str] = {}
        self._prompts: dict[str, tuple[Member, str, dict[str, Any]]] = {}
        self._resources: dict[str, tuple[Member, str, dict[str, Any]]] = {}
        self._templates: dict[str, tuple[Member, str, dict[str, Any]]] = {}
        self._uri_problems: dict[str, str] = {}  # exposed URI or URI template → why it is withheld
        self._refreshing: asyncio.Task[None] | None = None
        self.generation = 0  # increases whenever the merged tools change: lets callers cache what they derive
        self._background: set[asyncio.Task[None]] = set()
        for member in members:
            member.backend.listener = _Listener(self)

    # ---- lifecycle ----------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start every backend; one that fails to start is recorded as down, never fatal."""
        await asyncio.gather(*(self._start(member) for member in self.members.values()))
        await self.refresh()

    async def _start(self, member: Member) -> None:
        try:
            await member.backend.start()
            member.error = None
        except Exception as exc:  # any failure to start is this backend's problem, not the gateway's
            member.error = str(exc) or type(exc).__name__
            log.warning("backend %s did not start: %s", member.name, member.error)
            self._in_background(self._reconnect(member))

    async def _reconnect(self, member: Member) -> None:
        """Retry a backend that failed to start, with backoff, off the request path; announce it once back.
        (A started backend reconnects by itself: stdio restarts its process, HTTP re-initializes.)"""
        delay = RECONNECT_FIRST
        while True:
            await asyncio.sleep(delay)
            if self.members.get(member.name) is not member:
                return  # removed from the group meanwhile
            try:
                await member.backend.start()
            except Exception as exc:  # still down: say why, wait longer
                member.error = str(exc) or type(exc).__name__
            if not await member.backend.wait_ready(READY_WAIT):
                delay = min(delay * 2, RECONNECT_MAX)
                continue
            await self._list_changed(member.name, "tools")
            return

    async def add(self, member: Member) -> None:
        """Join ``member`` to the group (last in priority), start it and announce what it serves."""
        if member.name in self.members:
            raise ValueError(f"backend {member.name!r} is already in the group")
        member.backend.listener = _Listener(self)
        self.members[member.name] = member
        await self._start(member)
        await self.refresh(only=member.name)
        await self._announce(member)

    async def replace(self, member: Member) -> None:
        """Put ``member`` in the place (and priority) of the backend of the same name, stopping that one."""
        old = self.members[member.name]
        member.backend.listener = _Listener(self)
        self.members[member.name] = member  # an existing key keeps its place in the order
        await old.backend.aclose()
        await self._start(member)
        await self.refresh(only=member.name)
        await self._announce(member)

    async def remove(self, name: str) -> None:
        """Take backend ``name`` out of the group, stop it and announce what its clients lost."""
        member = self.members.pop(name, None)
        if member is None:
            return
        self._rebuild()
        await member.backend.aclose()
        await self._announce(member)

    async def _announce(self, member: Member) -> None:
        if self.on_changed is None:
            return
        await self.on_changed("tools")
        if member.prompts:
            await self.on_changed("prompts")
        if member.resources or member.templates:
            await self.on_changed("resources")

    def _in_background(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def aclose(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*(m.backend.aclose() for m in self.members.values()), return_exceptions=True)

    # ---- refresh ------------------------------------------------------------------------------------------

    async def refresh(self, only: str | None = None) -> None:
        """Re-read the lists of every backend (or one); concurrent callers share one refresh."""
        if only is not None:
            await self._refresh_member(self.members[only])
            self._rebuild()
            return
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.ensure_future(self._refresh_all())
        await asyncio.shield(self._refreshing)

    async def _refresh_all(self) -> None:
        await asyncio.gather(*(self._refresh_member(member) for member in self.members.values()))
        self._rebuild()

    async def _refresh_member(self, member: Member) -> None:
        backend = member.backend
        if not backend.ready and not await backend.wait_ready(READY_WAIT):
            # Down (restarting, reconnecting, never started): keep the last lists, say why, answer at once.
            if member.error is None or backend.down_reason != "not started":
                member.error = backend.down_reason
            return
        capabilities = backend.identity.capabilities if backend.identity else {}
        try:
            tools = await self._list(backend, "tools/list", "tools") if "tools" in capabilities else []
            prompts = await self._list(backend, "prompts/list", "prompts") if "prompts" in capabilities else []
            resources, templates = [], []
            if "resources" in capabilities:
                resources = await self._list(backend, "resources/list", "resources")
                templates = await self._list(backend, "resources/templates/list", "resourceTemplates")
        except RpcError as exc:
            member.error = exc.message
            log.warning("backend %s: %s", member.name, exc.message)
            return
        member.error = None
        verdicts: dict[str, Verdict] = self.guard.judge(member.name, tools) if self.guard else {}
        member.withheld = {name: v.reason for name, v in verdicts.items() if v.withheld}
        member.tools = [(o, t) for o, t in member.filter.apply(tools) if o not in member.withheld]
        member.prompts, member.resources, member.templates = prompts, resources, templates

    async def _list(self, backend: Backend, method: str, key: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        params: Message | None = None
        for _ in range(MAX_PAGES):
            body = await backend.call(method, params)
            if body.get("error", {}).get("code") == METHOD_NOT_FOUND:
                return items  # advertised the capability but not this list: nothing to merge
            result = result_of(body, backend.name, method)
            page = result.get(key)
            if not isinstance(page, list) or not all(isinstance(i, dict) for i in page):
                raise RpcError(INVALID_PARAMS, f"backend {backend.name} sent a malformed {method} result")
            items.extend(page)
            cursor = result.get("nextCursor")
            if not isinstance(cursor, str) or not cursor:
                return items
            params = {"cursor": cursor}
        raise RpcError(INVALID_PARAMS, f"backend {backend.name} paginated {method} beyond {MAX_PAGES} pages")

    def _visible(self) -> list[Member]:
        members = list(self.members.values())
        return [m for m in members if m.up] if self.unavailable == "hide" else members

    def _exposed(self, member: Member, name: str) -> str:
        return f"{member.name}{self.separator}{name}" if self.conflict == "prefix" else name

    def _rebuild(self) -> None:
        tools: dict[str, tuple[Member, str, dict[str, Any]]] = {}
        prompts: dict[str, tuple[Member, str, dict[str, Any]]] = {}
        problems: dict[str, str] = {}
        for member in self._visible():
            for original, tool in member.tools:
                self._merge(tools, problems, member, original, tool)
            for prompt in member.prompts:
                self._merge(prompts, problems, member, str(prompt.get("name", "")), prompt)
        for name in problems:
            tools.pop(name, None)
            prompts.pop(name, None)
        resources: dict[str, tuple[Member, str, dict[str, Any]]] = {}
        templates: dict[str, tuple[Member, str, dict[str, Any]]] = {}
        uri_problems: dict[str, str] = {}
        for member in self._visible():
            for resource in member.resources:
                self._merge(resources, uri_problems, member, str(resource.get("uri", "")), resource, key="uri")
            for template in member.templates:
                original = str(template.get("uriTemplate", ""))
                self._merge(templates, uri_problems, member, original, template, key="uriTemplate")
        for uri in uri_problems:
            resources.pop(uri, None)
            templates.pop(uri, None)
        if not _same_tools(tools, self._tools):
            self.generation += 1
        self._tools, self._prompts, self._tool_problems = tools, prompts, problems
        self._resources, self._templates, self._uri_problems = resources, templates, uri_problems

    def _merge(
        self,
        into: dict[str, tuple[Member, str, dict[str, Any]]],
        problems: dict[str, str],
        member: Member,
        original: str,
        item: dict[str, Any],
        *,
        key: Literal["name", "uri", "uriTemplate"] = "name",
    ) -> None:
        """Add ``item`` under its exposed ``key`` (a tool or prompt name, a resource URI or URI template)."""
        if key == "name":
            exposed = self._exposed(member, str(item.get("name", original)))
        else:
            exposed = self.exposed_uri(member.name, original)
        holder = into.get(exposed)
        if holder is None:
            into[exposed] = (member, original, {**item, key: exposed})
        elif self.conflict == "manual":
            fix = "rename one with tools.rename" if key == "name" else "set conflict: prefix or priority"
            problems[exposed] = (
                f"{_WHAT[key]} {exposed!r} is served by both {holder[0].name} and {member.name}; "
                f"{fix} in the gateway config"
            )
            log.warning("gateway: %s", problems[exposed])
        # priority (and prefix, where a clash needs identical backend names): the earlier backend wins.

    def exposed_uri(self, backend: str, uri: str) -> str:
        """The URI (or URI template) clients see for ``uri`` of ``backend``."""
        return prefixed_uri(uri, backend) if self.conflict == "prefix" else uri

    # ---- the merged view ----------------------------------------------------------------------------------

    def tools(self) -> list[dict[str, Any]]:
        return [tool for _, _, tool in self._tools.values()]

    def tools_by_backend(self) -> dict[str, list[dict[str, Any]]]:
        """The merged tools (as clients see them) grouped by the backend serving each."""
        grouped: dict[str, list[dict[str, Any]]] = {name: [] for name in self.members}
        for member, _, tool in self._tools.values():
            grouped[member.name].append(tool)
        return grouped

    def prompts(self) -> list[dict[str, Any]]:
        return [prompt for _, _, prompt in self._prompts.values()]

    def resources(self) -> list[dict[str, Any]]:
        return [resource for _, _, resource in self._resources.values()]

    def resource_templates(self) -> list[dict[str, Any]]:
        return [template for _, _, template in self._templates.values()]

    def route_tool(self, name: str) -> Route:
        entry = self._tools.get(name)
        if entry is None:
            raise self._missing(name, "tool")
        return self._route(entry[0], entry[1])

    def route_prompt(self, name: str) -> Route:
        entry = self._prompts.get(name)
        if entry is None:
            raise self._missing(name, "prompt")
        return self._route(entry[0], entry[1])

    def route_resource(self, uri: str) -> Route:
        entry = self._resources.get(uri)
        if entry is not None:
            return self._route(entry[0], entry[1])
        for withheld, problem in self._uri_problems.items():  # a clashing URI, or an instance of a clashing template
            if _template_matches(withheld, uri):
                raise RpcError(DENIED, f"resource {uri!r} is not served: {problem}")
        owner = self._uri_owner(uri)
        if owner is None:
            raise RpcError(INVALID_PARAMS, f"unknown resource {uri!r}")
        return self._route(*owner)

    def _uri_owner(self, uri: str) -> tuple[Member, str] | None:
        """The backend of a URI no list mentioned (an instance of a template, say), and the URI it knows."""
        if self.conflict == "prefix":
            split = split_prefixed_uri(uri)
            member = self.members.get(split[0]) if split is not None else None
            if split is None or member is None or member not in self._visible():
                return None
            return member, split[1]
        for member, original, _ in self._templates.values():  # in priority order
            if _template_matches(original, uri):
                return member, uri
        serving = [m for m in self._visible() if m.resources or m.templates]
        return (serving[0], uri) if len(serving) == 1 else None

    def _route(self, member: Member, original: str) -> Route:
        # Only a disconnected backend is refused outright: one whose last list failed may serve calls again.
        if not member.backend.ready:
            reason = member.error or member.backend.down_reason
            raise RpcError(UNAVAILABLE, f"backend {member.name} is unavailable: {reason}")
        return Route(member.backend, original)

    def _missing(self, name: str, kind: str) -> RpcError:
        if name in self._tool_problems:
            return RpcError(DENIED, f"{kind} {name!r} is not served: {self._tool_problems[name]}")
        for member in self.members.values():
            for original, reason in member.withheld.items():
                if self._exposed(member, member.filter.config.rename.get(original, original)) == name:
                    return RpcError(DENIED, f"{kind} {name!r} of backend {member.name} is withheld: {reason}")
        # A backend that has been down since the start never listed anything: the name may well be its.
        for member in self.members.values():
            never_listed = not (member.tools or member.prompts)
            owns = self.conflict != "prefix" or name.startswith(f"{member.name}{self.separator}")
            if never_listed and owns and not member.up:
                reason = member.error or member.backend.down_reason
                return RpcError(UNAVAILABLE, f"unknown {kind} {name!r}: backend {member.name} is unavailable: {reason}")
        return RpcError(INVALID_PARAMS, f"unknown {kind} {name!r}")

    def status(self) -> list[dict[str, Any]]:
        """One row per backend, for health endpoints and the CLI."""
        return [
            {
                "name": m.name,
                "up": m.up,
                # A started backend that went down since its last list (refused, disconnected) says why too.
                "error": m.error or (None if m.backend.ready else m.backend.down_reason),
                "tools": len(m.tools),
                "withheld": sorted(m.withheld),
                "prompts": len(m.prompts),
                "resources": len(m.resources),
            }
            for m in self.members.values()
        ]

    async def _backend_notification(self, backend: Backend, message: Message) -> None:
        if message.get("method") == _RESOURCE_UPDATED:
            await self._resource_updated(backend.name, message)
            return
        kind = _LIST_CHANGED.get(str(message.get("method")))
        if kind is None or backend.name not in self.members:
            return
        # Re-listing needs the backend's reader, which is busy delivering this very notification: do it later.
        self._in_background(self._list_changed(backend.name, kind))  # type: ignore[arg-type]

    async def _resource_updated(self, backend: str, message: Message) -> None:
        """Pass a backend's resource update on, naming the URI as clients know it (they subscribed to that)."""
        params = message.get("params")
        if self.on_resource_updated is None or backend not in self.members or not isinstance(params, dict):
            return
        uri = params.get("uri")
        if isinstance(uri, str):
            params = {**params, "uri": self.exposed_uri(backend, uri)}
            await self.on_resource_updated({**message, "params": params})

    async def _list_changed(self, backend: str, kind: Kind) -> None:
        if backend not in self.members:
            return  # left the group since
        await self.refresh(only=backend)
        if self.on_changed is not None:
            await self.on_changed(kind)


class _Listener:
    """Receives what a backend sends outside any call."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    async def backend_notification(self, backend: Backend, message: Message) -> None:
        await self.catalog._backend_notification(backend, message)

    async def backend_request(self, backend: Backend, message: Message) -> Message:
        # A request outside any call has no client to go to: the group has many clients, none of them asked.
        return error_body(
            METHOD_NOT_FOUND, f"{message.get('method')} outside a call is not supported through the gateway"
        )


def _same_tools(
    new: dict[str, tuple[Member, str, dict[str, Any]]], old: dict[str, tuple[Member, str, dict[str, Any]]]
) -> bool:
    return new.keys() == old.keys() and all(
        entry[0] is old[name][0] and entry[2] == old[name][2] for name, entry in new.items()
    )


_WHAT = {"name": "name", "uri": "resource URI", "uriTemplate": "resource template"}
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:(?://)?")


def prefixed_uri(uri: str, prefix: str) -> str:
    """``scheme://rest`` → ``scheme://prefix/rest``, ``scheme:rest`` → ``scheme:prefix/rest`` and, without a
    scheme, ``rest`` → ``prefix/rest``: a scheme is kept, so the result is a reference of the same kind (a
    name of ``[A-Za-z0-9_.-]`` is a valid segment, and holds no ``:`` that could pass for a scheme)."""
    head = match.group(0) if (match := _SCHEME.match(uri)) else ""
    return f"{head}{prefix}/{uri[len(head) :]}"


def split_prefixed_uri(uri: str) -> tuple[str, str] | None:
    """The inverse of :func:`prefixed_uri`: (prefix, original URI), or None when there is no prefix."""
    head = match.group(0) if (match := _SCHEME.match(uri)) else ""
    prefix, slash, rest = uri[len(head) :].partition("/")
    return (prefix, f"{head}{rest}") if slash and prefix else None


def _template_matches(template: str, uri: str) -> bool:
    """Whether ``uri`` is an expansion of the RFC 6570 ``template``: a simple ``{var}`` stands for one
    segment; an operator expression (``{+path}``, ``{/a,b}``, ``{?q}``…) for anything."""
    pattern = "".join(
        ("[^/?#]+" if re.fullmatch(r"\{\w+\}", part) else ".*") if part.startswith("{") else re.escape(part)
        for part in re.split(r"(\{[^}]*\})", template)
    )
    return re.fullmatch(pattern, uri, re.DOTALL) is not None


def result_of(body: Message, backend: str, method: str) -> dict[str, Any]:
    """The ``result`` of a backend answer, or the answer's error raised as ``RpcError``."""
    result = body.get("result")
    if isinstance(result, dict):
        return result
    error = body.get("error")
    if isinstance(error, dict):
        code = error.get("code")
        raise RpcError(code if isinstance(code, int) else UNAVAILABLE, str(error.get("message")), error.get("data"))
    raise RpcError(UNAVAILABLE, f"backend {backend} sent a malformed answer to {method}")


__all__ = ["Catalog", "ConflictRule", "Member", "Route", "UnavailableRule", "prefixed_uri", "split_prefixed_uri"]
