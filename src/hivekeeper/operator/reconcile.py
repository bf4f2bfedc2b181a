"""Turning one custom resource into live objects, and a status that says how it went.

``Reconciler`` is the operator minus kopf: render (pure), apply each manifest, prune children that
are no longer desired, read readiness back. An invalid spec is not an exception here but a status
with ``Ready=False, reason=InvalidSpec`` and the field-named message, so kopf never retries it in a
loop; the next edit of the resource triggers a new attempt.
"""

from __future__ import annotations

import asyncio
import datetime
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hivekeeper.errors import ConfigError
from hivekeeper.operator import resources as r
from hivekeeper.operator.kubeapi import CHILD_KINDS, KubeClient, Outcome, collection_path, object_path
from hivekeeper.operator.probe import ProbeError, list_tools
from hivekeeper.operator.render import (
    Manifest,
    Parsed,
    RenderOptions,
    gateway_url,
    parse,
    registry_url,
    render_gateway,
    render_registry,
    render_server,
    server_url,
)


@dataclass
class Result:
    """What one reconcile did: the status to write and, for logs and tests, the per-object outcomes
    (``seconds`` is wall time; the operator's CPU per reconcile is measured by benchmarks/kube_operator.py)."""

    status: dict[str, Any]
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    pruned: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge_conditions(old: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Replace conditions by type, keeping ``lastTransitionTime`` when the status did not flip."""
    previous = {str(item.get("type")): item for item in old if isinstance(item, Mapping)}
    merged = []
    for condition in new:
        before = previous.get(condition["type"])
        stamp = before.get("lastTransitionTime") if before and before.get("status") == condition["status"] else None
        merged.append({**condition, "lastTransitionTime": stamp or _now()})
    return merged


def _condition(kind: str, status: bool, reason: str, message: str, generation: int | None) -> dict[str, Any]:
    condition: dict[str, Any] = {
        "type": kind,
        "status": "True" if status else "False",
        "reason": reason,
        "message": message,
    }
    if generation is not None:
        condition["observedGeneration"] = generation
    return condition


def selector_query(selector: r.LabelSelector) -> str:
    """A LabelSelector as the ``labelSelector`` query string the API server evaluates."""
    terms = [f"{key}={value}" for key, value in sorted(selector.match_labels.items())]
    for requirement in selector.match_expressions:
        if requirement.operator == "Exists":
            terms.append(requirement.key)
        elif requirement.operator == "DoesNotExist":
            terms.append(f"!{requirement.key}")
        else:
            operator = "in" if requirement.operator == "In" else "notin"
            terms.append(f"{requirement.key} {operator} ({','.join(requirement.values)})")
    return ",".join(terms)


def matches(selector: r.LabelSelector, labels: Mapping[str, str]) -> bool:
    """Whether ``labels`` satisfy ``selector`` (what the API server does with ``selector_query``)."""
    if any(labels.get(key) != value for key, value in selector.match_labels.items()):
        return False
    for requirement in selector.match_expressions:
        present = requirement.key in labels
        value = labels.get(requirement.key)
        satisfied = {
            "In": present and value in requirement.values,
            "NotIn": not present or value not in requirement.values,
            "Exists": present,
            "DoesNotExist": not present,
        }[requirement.operator]
        if not satisfied:
            return False
    return True


Observe = Callable[[str], Awaitable[list[str]]]


class Reconciler:
    """``observe`` lists a ready server's tools by URL (``probe.list_tools``); None skips it."""

    def __init__(
        self, client: KubeClient, options: RenderOptions = RenderOptions(), observe: Observe | None = list_tools
    ) -> None:
        self.client = client
        self.options = options
        self.observe = observe
        # One reconcile per resource at a time: create/update handlers, the drift timer and child
        # events may all fire together, and an older spec must never prune what a newer one wants.
        self._locks: dict[tuple[str, str, str], asyncio.Lock] = {}
        self._scheduled: set[tuple[str, str, str]] = set()

    @staticmethod
    def _key(body: Mapping[str, Any]) -> tuple[str, str, str]:
        metadata = body.get("metadata") or {}
        return str(body.get("kind")), str(metadata.get("namespace") or "default"), str(metadata.get("name"))

    async def reconcile(self, body: Mapping[str, Any]) -> Result:
        async with self._locks.setdefault(self._key(body), asyncio.Lock()):
            return await self._reconcile(body)

    async def reconcile_owner(self, child: Mapping[str, Any], *, debounce: float = 1.0) -> Result | None:
        """A child changed (edited, deleted, its pods got ready): reconcile its owner and write its status.

        Events come in bursts (a rollout, our own applies); requests for the same owner within
        ``debounce`` seconds collapse into one reconcile.
        """
        metadata = child.get("metadata") or {}
        labels = metadata.get("labels") or {}
        namespace = str(metadata.get("namespace") or "default")
        for kind in r.KINDS.values():
            name = labels.get(f"{r.GROUP}/{kind.singular}")
            if name:
                break
        else:
            return None
        key = (kind.kind, namespace, str(name))
        if key in self._scheduled:
            return None
        self._scheduled.add(key)
        try:
            await asyncio.sleep(debounce)
        finally:
            self._scheduled.discard(key)
        path = f"/apis/{r.API_VERSION}/namespaces/{namespace}/{kind.plural}/{name}"
        owner = await self.client.get(path)
        if owner is None or (owner.get("metadata") or {}).get("deletionTimestamp"):
            return None  # gone or going: the delete handler owns what happens next
        result = await self.reconcile(owner)
        await self.client.merge_patch(f"{path}/status", {"status": result.status})
        return result

    async def _reconcile(self, body: Mapping[str, Any]) -> Result:
        started = time.perf_counter()
        metadata = body.get("metadata") or {}
        generation = metadata.get("generation")
        old_conditions = (body.get("status") or {}).get("conditions") or []
        try:
            parsed = parse(body)
            namespace = parsed.namespace or "default"
            manifests, url, extra = await self._render(parsed, namespace)
        except ConfigError as exc:
            invalid = [_condition(kind, False, "InvalidSpec", exc.message, generation) for kind in ("Valid", "Ready")]
            status = {"conditions": merge_conditions(old_conditions, invalid), "readyReplicas": 0}
            if generation is not None:
                status["observedGeneration"] = generation
            return Result(status=status, seconds=time.perf_counter() - started)

        result = Result(status={})
        ready = wanted = 0
        for manifest in manifests:
            outcome, live = await self.client.apply(manifest, namespace)
            result.outcomes[f"{manifest['kind']}/{manifest['metadata']['name']}"] = outcome
            if manifest["kind"] == "Deployment" and manifest["metadata"]["name"] == parsed.name:
                ready = int((live.get("status") or {}).get("readyReplicas") or 0)
                wanted = int(manifest["spec"]["replicas"])
        result.pruned = await self._prune(parsed, namespace, manifests)

        if parsed.kind is r.GATEWAY and not extra["backends"]:
            readiness = _condition("Ready", False, "NoBackends", "no MCPServer matches serverSelector", generation)
        else:
            readiness = _condition(
                "Ready",
                ready >= wanted,
                "Available" if ready >= wanted else "Progressing",
                f"{ready}/{wanted} replicas ready",
                generation,
            )
        conditions = [_condition("Valid", True, "SpecAccepted", "", generation), readiness]
        if parsed.kind is r.SERVER and parsed.spec.permission_profile == "network":
            conditions.append(
                _condition(
                    "OpenEgress", True, "PermissionProfileNetwork", "this server may connect anywhere", generation
                )
            )
        if parsed.kind is r.SERVER:
            previous = (body.get("status") or {}).get("observedTools") or []
            extra["observedTools"] = await self._observe(url, previous) if ready else []
        result.status = {
            "conditions": merge_conditions(old_conditions, conditions),
            "url": url,
            "readyReplicas": ready,
            **extra,
        }
        if generation is not None:
            result.status["observedGeneration"] = generation
        result.seconds = time.perf_counter() - started
        return result

    async def _observe(self, url: str, previous: list[str]) -> list[str]:
        if self.observe is None:
            return previous
        try:
            return await self.observe(url)
        except (ProbeError, OSError):
            return previous  # unreachable now (e.g. the operator runs outside the cluster): keep the last answer

    async def _render(self, parsed: Parsed, namespace: str) -> tuple[list[Manifest], str, dict[str, Any]]:
        if parsed.kind is r.SERVER:
            return render_server(parsed, self.options), server_url(parsed), {}
        if parsed.kind is r.GATEWAY:
            path = f"/apis/{r.API_VERSION}/namespaces/{namespace}/{r.SERVER.plural}"
            items = await self.client.list(path, selector_query(parsed.spec.server_selector))
            servers = []
            for item in items:
                try:
                    servers.append(parse(item))
                except ConfigError:
                    continue  # an invalid MCPServer reports itself; the gateway serves the others
            manifests = render_gateway(parsed, servers, self.options)
            return manifests, gateway_url(parsed), {"backends": sorted(server.name for server in servers)}
        return render_registry(parsed, self.options), registry_url(parsed), {}

    async def _children(self, parsed: Parsed, namespace: str) -> list[Manifest]:
        label = f"{r.GROUP}/{parsed.kind.singular}"
        children: list[Manifest] = []
        for api_version, kind in CHILD_KINDS:
            items = await self.client.list(collection_path(api_version, kind, namespace), f"{label}={parsed.name}")
            # Checked again here: deleting is too consequential to trust one filter.
            children += [
                {**item, "apiVersion": api_version, "kind": kind}
                for item in items
                if ((item.get("metadata") or {}).get("labels") or {}).get(label) == parsed.name
            ]
        return children

    async def _prune(self, parsed: Parsed, namespace: str, desired: Sequence[Manifest]) -> list[str]:
        """Delete children this resource no longer wants (e.g. the egress proxy once allowedEndpoints is empty)."""
        wanted = {(item["kind"], item["metadata"]["name"]) for item in desired}
        uid = parsed.metadata.get("uid")
        pruned = []
        for child in await self._children(parsed, namespace):
            key = (child["kind"], child["metadata"]["name"])
            owners = child["metadata"].get("ownerReferences") or []
            ours = not uid or any(owner.get("uid") == uid for owner in owners)
            if key not in wanted and ours:
                await self.client.delete(object_path(child, namespace))
                pruned.append(f"{key[0]}/{key[1]}")
        return pruned

    async def delete(self, body: Mapping[str, Any]) -> list[str]:
        """Delete every child of a resource; owner references would too, but only eventually."""
        metadata = body.get("metadata") or {}
        kind = r.KINDS.get(str(body.get("kind")))
        name = metadata.get("name")
        if kind is None or not isinstance(name, str):
            return []
        parsed = Parsed(kind, name, metadata.get("namespace"), metadata, None)
        namespace = parsed.namespace or "default"
        deleted = []
        async with self._locks.setdefault(self._key(body), asyncio.Lock()):
            for child in await self._children(parsed, namespace):
                if await self.client.delete(object_path(child, namespace)):
                    deleted.append(f"{child['kind']}/{child['metadata']['name']}")
        self._locks.pop(self._key(body), None)
        return deleted


__all__ = ["Reconciler", "Result", "matches", "merge_conditions", "selector_query"]
