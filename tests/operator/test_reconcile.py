"""Reconciliation against the kmock Kubernetes emulator: real HTTP, the operator's real client and handlers.

kmock stores objects and applies PATCH bodies as recursive merges (it does not implement server-side
apply's field ownership), which is enough to see every create, update, drift repair and deletion
the operator performs.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import socket
import subprocess
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import kmock
import kopf
import pytest

from hivekeeper.operator import handlers
from hivekeeper.operator.kubeapi import SPEC_HASH, Connection, KubeClient, Outcome
from hivekeeper.operator.probe import ProbeError, list_tools
from hivekeeper.operator.reconcile import Reconciler
from hivekeeper.operator.render import RenderOptions
from hivekeeper.operator.resources import GROUP, KINDS, VERSION
from tests.conftest import ECHO_SERVER, free_port
from tests.operator.operator_helpers import load, seed, with_command

NS = "toolhive-servers"
UID = "0d5f3c1e-1111-4222-8333-444455556666"
SERVERS = "hivekeeper.dev/v1alpha1/mcpservers"
DEPLOYMENTS = "apps/v1/deployments"
SERVICES = "v1/services"
CONFIGMAPS = "v1/configmaps"
POLICIES = "networking.k8s.io/v1/networkpolicies"

EXPECTED = {
    (CONFIGMAPS, "slack-mcp-proxy"),
    (DEPLOYMENTS, "slack-mcp-egress"),
    (SERVICES, "slack-mcp-egress"),
    (POLICIES, "slack-mcp-egress"),
    (DEPLOYMENTS, "slack-mcp"),
    (SERVICES, "slack-mcp"),
    (POLICIES, "slack-mcp"),
}


def _server() -> dict[str, Any]:
    body = with_command(seed())
    body["metadata"].update(uid=UID, generation=1)
    return body


def _live(emulator: kmock.KubernetesEmulator) -> set[tuple[str, str]]:
    kinds = {DEPLOYMENTS, SERVICES, CONFIGMAPS, POLICIES}
    found = set()
    for resource, namespace, name in emulator.objects:
        key = f"{resource.group}/{resource.version}/{resource.plural}".lstrip("/")
        if key in kinds and namespace == NS and not emulator.objects[resource, namespace, name].deleted:
            found.add((key, name))
    return found


@pytest.fixture
async def reconciler(kmock: kmock.KubernetesEmulator) -> Any:
    for resource in (DEPLOYMENTS, SERVICES, CONFIGMAPS, POLICIES, "v1/persistentvolumeclaims"):
        kmock.resources[resource] = {}
    verbs = {"get", "list", "watch", "patch"}
    for kind in KINDS.values():  # what the API server's discovery says once the CRDs are installed
        kmock.resources[f"{GROUP}/{VERSION}/{kind.plural}"] = kmock.ResourceInfo(
            kind=kind.kind, singular=kind.singular, namespaced=True, verbs=verbs, subresources={"status"}
        )
    client = KubeClient(Connection(server=str(kmock.url)))
    yield Reconciler(client, RenderOptions(hivekeeper_image="hk:test"), observe=None)
    await client.aclose()


async def test_create_applies_every_child_with_owner_references(
    kmock: kmock.KubernetesEmulator, reconciler: Reconciler
) -> None:
    result = await reconciler.reconcile(_server())
    assert set(result.outcomes.values()) == {Outcome.CREATED} and len(result.outcomes) == 7
    assert _live(kmock) == EXPECTED
    deployment = kmock.objects[DEPLOYMENTS, NS, "slack-mcp"]
    assert deployment["metadata"]["ownerReferences"][0]["uid"] == UID
    assert deployment["metadata"]["annotations"][SPEC_HASH]
    assert deployment["spec"]["template"]["spec"]["containers"][1]["image"] == "hk:test"
    status = result.status
    assert status["url"] == "http://slack-mcp.toolhive-servers.svc:8080/mcp"
    assert status["observedGeneration"] == 1 and status["readyReplicas"] == 0
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"], ready["message"]) == ("False", "Progressing", "0/1 replicas ready")

    again = await reconciler.reconcile(_server())  # idempotent: nothing written the second time
    assert set(again.outcomes.values()) == {Outcome.UNCHANGED}
    assert len(kmock.objects[DEPLOYMENTS, NS, "slack-mcp"].history) == 1


@pytest.fixture
def echo_url() -> Iterator[str]:
    """A real MCP server standing in for the pod behind the Service (no cluster DNS here)."""
    port = free_port()
    server = subprocess.Popen([*ECHO_SERVER, "--http", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:  # the port, not GET /mcp: that opens a long-lived stream
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "echo server did not start"
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        server.terminate()
        server.wait(timeout=10)


async def test_readiness_and_tools_are_read_back(
    kmock: kmock.KubernetesEmulator, reconciler: Reconciler, echo_url: str
) -> None:
    asked: list[str] = []

    async def observe_locally(url: str) -> list[str]:
        asked.append(url)
        return await list_tools(echo_url)

    reconciler.observe = observe_locally
    first = await reconciler.reconcile(_server())
    assert first.status["observedTools"] == [] and asked == []  # nothing ready: nobody asked
    kmock.objects[DEPLOYMENTS, NS, "slack-mcp"].patch({"status": {"readyReplicas": 1}})
    result = await reconciler.reconcile({**_server(), "status": first.status})
    assert asked == ["http://slack-mcp.toolhive-servers.svc:8080/mcp"]
    assert sorted(result.status["observedTools"]) == ["add", "echo"]
    ready = next(c for c in result.status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("True", "Available")
    assert result.status["readyReplicas"] == 1
    valid = next(c for c in result.status["conditions"] if c["type"] == "Valid")
    before = next(c for c in first.status["conditions"] if c["type"] == "Valid")
    assert valid["lastTransitionTime"] == before["lastTransitionTime"]  # unchanged status keeps its time

    async def unreachable(url: str) -> list[str]:
        raise ProbeError("connection refused")

    reconciler.observe = unreachable
    later = await reconciler.reconcile({**_server(), "status": result.status})
    assert sorted(later.status["observedTools"]) == ["add", "echo"]  # the last answer is kept


async def test_update_changes_only_what_changed_and_prunes_the_rest(
    kmock: kmock.KubernetesEmulator, reconciler: Reconciler
) -> None:
    await reconciler.reconcile(_server())
    old_hash = kmock.objects[DEPLOYMENTS, NS, "slack-mcp"]["spec"]["template"]["metadata"]["annotations"]

    updated = _server()
    updated["metadata"]["generation"] = 2
    updated["spec"]["policies"][0]["config"]["allowedTools"] = ["search_messages"]
    result = await reconciler.reconcile(updated)
    assert result.outcomes["ConfigMap/slack-mcp-proxy"] is Outcome.UPDATED
    assert result.outcomes["Deployment/slack-mcp"] is Outcome.UPDATED  # new config hash rolls the pods
    assert result.outcomes["Service/slack-mcp"] is Outcome.UNCHANGED
    assert result.outcomes["Deployment/slack-mcp-egress"] is Outcome.UNCHANGED
    assert "search_messages\n" in kmock.objects[CONFIGMAPS, NS, "slack-mcp-proxy"]["data"]["gateway.yaml"]
    assert "post_message" not in kmock.objects[CONFIGMAPS, NS, "slack-mcp-proxy"]["data"]["gateway.yaml"]
    new_hash = kmock.objects[DEPLOYMENTS, NS, "slack-mcp"]["spec"]["template"]["metadata"]["annotations"]
    assert new_hash != old_hash
    assert result.status["observedGeneration"] == 2

    no_egress = copy.deepcopy(updated)
    del no_egress["spec"]["networkPolicy"]
    pruned = await reconciler.reconcile(no_egress)
    assert sorted(pruned.pruned) == [
        "Deployment/slack-mcp-egress",
        "NetworkPolicy/slack-mcp-egress",
        "Service/slack-mcp-egress",
    ]
    assert _live(kmock) == {key for key in EXPECTED if not key[1].endswith("-egress")}
    assert kmock.objects[POLICIES, NS, "slack-mcp"]["spec"]["egress"] == []


async def test_drift_is_corrected(kmock: kmock.KubernetesEmulator, reconciler: Reconciler) -> None:
    await reconciler.reconcile(_server())
    # Someone scales the Deployment, swaps the proxy image and deletes the Service by hand.
    deployment = kmock.objects[DEPLOYMENTS, NS, "slack-mcp"]
    tampered = copy.deepcopy(deployment["spec"])
    tampered["replicas"] = 5
    tampered["template"]["spec"]["containers"][1]["image"] = "evil:latest"
    deployment.patch({"spec": tampered})
    del kmock.objects[SERVICES, NS, "slack-mcp"]

    result = await reconciler.reconcile(_server())
    assert result.outcomes["Deployment/slack-mcp"] is Outcome.UPDATED
    assert result.outcomes["Service/slack-mcp"] is Outcome.CREATED
    assert result.outcomes["ConfigMap/slack-mcp-proxy"] is Outcome.UNCHANGED
    repaired = kmock.objects[DEPLOYMENTS, NS, "slack-mcp"]
    assert repaired["spec"]["replicas"] == 1
    assert repaired["spec"]["template"]["spec"]["containers"][1]["image"] == "hk:test"
    assert _live(kmock) == EXPECTED
    patch_requests = [req for req in list(kmock) if req.method == "PATCH"]
    assert patch_requests[-1].params == {"fieldManager": "hivekeeper", "force": "true"}
    assert patch_requests[-1].headers["Content-Type"] == "application/apply-patch+yaml"


async def test_delete_removes_every_child_and_nothing_else(
    kmock: kmock.KubernetesEmulator, reconciler: Reconciler
) -> None:
    await reconciler.reconcile(_server())
    kmock.objects[CONFIGMAPS, NS, "unrelated"] = {"metadata": {"name": "unrelated", "labels": {"app": "x"}}}
    other = with_command(seed())
    other["metadata"].update(name="other-mcp", uid="99999999-1111-4222-8333-444455556666")
    await reconciler.reconcile(other)

    deleted = await reconciler.delete(_server())
    assert len(deleted) == 7
    remaining = _live(kmock)
    assert not any(name.startswith("slack-mcp") for _, name in remaining)
    assert (CONFIGMAPS, "unrelated") in remaining and (DEPLOYMENTS, "other-mcp") in remaining
    assert await reconciler.delete(_server()) == []  # idempotent


async def test_invalid_spec_sets_a_condition_and_creates_nothing(
    kmock: kmock.KubernetesEmulator, reconciler: Reconciler
) -> None:
    invalid = _server()
    invalid["spec"]["networkPolicy"]["allowedEndpoints"] = ["slack.com"]
    result = await reconciler.reconcile(invalid)
    valid, ready = result.status["conditions"]
    assert (valid["type"], valid["status"], valid["reason"]) == ("Valid", "False", "InvalidSpec")
    assert (ready["type"], ready["status"], ready["reason"]) == ("Ready", "False", "InvalidSpec")
    assert ready["message"].startswith("spec.networkPolicy.allowedEndpoints.0: 'slack.com': expected host:port")
    assert _live(kmock) == set()
    assert not [req for req in list(kmock) if req.method in ("POST", "PATCH", "DELETE")]


async def test_kopf_handlers_write_status_and_clean_up(kmock: kmock.KubernetesEmulator, reconciler: Reconciler) -> None:
    memo = SimpleNamespace(reconciler=reconciler)
    logger = logging.getLogger("test")
    patch = kopf.Patch()
    await handlers.reconcile(body=_server(), patch=patch, memo=memo, logger=logger)
    assert patch["status"]["url"] == "http://slack-mcp.toolhive-servers.svc:8080/mcp"
    assert _live(kmock) == EXPECTED

    invalid = _server()
    invalid["spec"]["replicas"] = 99
    patch = kopf.Patch()
    await handlers.reconcile(body=invalid, patch=patch, memo=memo, logger=logger)  # must not raise
    assert patch["status"]["conditions"][0]["reason"] == "InvalidSpec"
    assert "spec.replicas" in patch["status"]["conditions"][0]["message"]

    await handlers.delete(body=_server(), memo=memo, logger=logger)
    assert _live(kmock) == set()


async def test_gateway_reconcile_lists_its_servers(kmock: kmock.KubernetesEmulator, reconciler: Reconciler) -> None:
    examples = load("gateway-registry.yaml")
    for document in examples:
        if document["kind"] == "MCPServer":
            kmock.objects[SERVERS, "mcp", document["metadata"]["name"]] = document
    gateway = next(doc for doc in examples if doc["kind"] == "MCPGateway")
    result = await reconciler.reconcile(gateway)
    # kmock ignores labelSelector, so this also proves the request carries it: see the query below.
    listing = next(req for req in list(kmock) if req.resource is not None and req.resource.plural == "mcpservers")
    assert listing.params["labelSelector"] == "gateway=main,tier notin (secret)"
    assert result.outcomes.keys() == {"ConfigMap/main-gateway", "Deployment/main", "Service/main"}
    assert result.status["url"] == "http://main.mcp.svc:8080/mcp"
    assert result.status["backends"] == ["git", "other", "time"]  # all three: kmock does not filter

    empty = await Reconciler(reconciler.client, observe=None).reconcile(
        {**gateway, "metadata": {"name": "lonely", "namespace": "empty-ns"}}
    )
    ready = next(c for c in empty.status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "NoBackends")
    assert kmock.objects[DEPLOYMENTS, "empty-ns", "lonely"]["spec"]["replicas"] == 0


async def test_child_events_for_one_owner_collapse_into_one_reconcile(
    kmock: kmock.KubernetesEmulator, reconciler: Reconciler
) -> None:
    await reconciler.client.create(f"/apis/{GROUP}/{VERSION}/namespaces/{NS}/mcpservers", _server())
    await reconciler.reconcile(_server())
    children = [
        kmock.objects[DEPLOYMENTS, NS, "slack-mcp"],
        kmock.objects[SERVICES, NS, "slack-mcp"],
        kmock.objects[CONFIGMAPS, NS, "slack-mcp-proxy"],
    ]
    del kmock.objects[SERVICES, NS, "slack-mcp"]  # the drift the burst of events is about
    results = await asyncio.gather(*(reconciler.reconcile_owner(child, debounce=0.2) for child in children))
    done = [result for result in results if result is not None]
    assert len(done) == 1
    assert done[0].outcomes["Service/slack-mcp"] is Outcome.CREATED
    assert kmock.objects[SERVERS, NS, "slack-mcp"]["status"]["url"].endswith(":8080/mcp")  # status written
    stranger = {"metadata": {"name": "x", "namespace": NS, "labels": {"app": "x"}}}
    assert await reconciler.reconcile_owner(stranger, debounce=0) is None


async def _eventually(check: Any, timeout: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {check.__doc__}"
        await asyncio.sleep(0.05)


async def test_the_kopf_operator_runs_the_whole_lifecycle(
    kmock: kmock.KubernetesEmulator, reconciler: Reconciler
) -> None:
    """kopf itself (watch stream, finalizer, handler dispatch, status patch) with the operator's registry."""
    kmock.resources["v1/namespaces"] = kmock.ResourceInfo(kind="Namespace", namespaced=False, verbs={"list", "watch"})
    for child in (DEPLOYMENTS, SERVICES, CONFIGMAPS, POLICIES, "v1/persistentvolumeclaims"):
        kmock.resources[child] = kmock.ResourceInfo(
            namespaced=True, verbs={"get", "list", "watch", "create", "patch", "delete"}
        )
    kmock.resources["apiextensions.k8s.io/v1/customresourcedefinitions"] = kmock.ResourceInfo(
        kind="CustomResourceDefinition", namespaced=False, verbs={"list", "watch"}
    )
    registry = handlers.build_registry(drift_interval=3600, login=False)

    @kopf.on.login(registry=registry)
    def _login(**_: Any) -> kopf.ConnectionInfo:
        return kopf.ConnectionInfo(server=str(kmock.url))

    body = _server()
    body["metadata"]["resourceVersion"] = "1"  # kopf's JSON patches test it
    await reconciler.client.create(f"/apis/{GROUP}/{VERSION}/namespaces/{NS}/mcpservers", body)
    settings = kopf.OperatorSettings()
    settings.scanning.disabled = True  # kmock cannot list namespaces; watch the one given
    stop = asyncio.Event()
    operator = asyncio.create_task(
        kopf.operator(
            registry=registry,
            settings=settings,
            memo=kopf.Memo(reconciler=reconciler, child_debounce=0.1),
            namespaces=[NS],
            standalone=True,
            stop_flag=stop,
        )
    )
    server_path = f"/apis/{GROUP}/{VERSION}/namespaces/{NS}/mcpservers/slack-mcp"
    try:

        def created() -> bool:
            """children created and status written"""
            status = kmock.objects[SERVERS, NS, "slack-mcp"].get("status") or {}
            return _live(kmock) == EXPECTED and bool(status.get("url"))

        await _eventually(created)
        assert handlers.FINALIZER in kmock.objects[SERVERS, NS, "slack-mcp"]["metadata"]["finalizers"]

        await reconciler.client.merge_patch(
            server_path,
            {
                "metadata": {"generation": 2},
                "spec": {"policies": [{"type": "tool-allowlist", "config": {"allowedTools": ["list_channels"]}}]},
            },
        )

        def updated() -> bool:
            """the policy change reached the ConfigMap"""
            return (
                "list_channels" in kmock.objects[CONFIGMAPS, NS, "slack-mcp-proxy"]["data"]["gateway.yaml"]
                and "post_message" not in kmock.objects[CONFIGMAPS, NS, "slack-mcp-proxy"]["data"]["gateway.yaml"]
            )

        await _eventually(updated)

        # Drift: someone deletes the Service and scales the Deployment; the child events repair both
        # long before the drift timer (an hour here) would.
        await reconciler.client.delete(f"/api/v1/namespaces/{NS}/services/slack-mcp")
        await reconciler.client.merge_patch(
            f"/apis/apps/v1/namespaces/{NS}/deployments/slack-mcp", {"spec": {"replicas": 7}}
        )

        def repaired() -> bool:
            """the Service back, the replica count restored"""
            return (SERVICES, "slack-mcp") in _live(kmock) and kmock.objects[DEPLOYMENTS, NS, "slack-mcp"]["spec"][
                "replicas"
            ] == 1

        await _eventually(repaired)
        # Pods becoming ready reach the status through the Deployment's event, not the timer.
        await reconciler.client.merge_patch(
            f"/apis/apps/v1/namespaces/{NS}/deployments/slack-mcp", {"status": {"readyReplicas": 1}}
        )

        def ready() -> bool:
            """Ready=True in the MCPServer's status"""
            status = kmock.objects[SERVERS, NS, "slack-mcp"].get("status") or {}
            return any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions", []))

        await _eventually(ready)

        await reconciler.client.merge_patch(server_path, {"metadata": {"generation": 3}, "spec": {"replicas": 99}})

        def rejected() -> bool:
            """the invalid spec reported in status"""
            status = kmock.objects[SERVERS, NS, "slack-mcp"].get("status") or {}
            return any(c["reason"] == "InvalidSpec" for c in status.get("conditions", []))

        await _eventually(rejected)
        for condition in kmock.objects[SERVERS, NS, "slack-mcp"]["status"]["conditions"]:
            assert condition["status"] == "False" and condition["message"].startswith("spec.replicas: ")
        assert kmock.objects[DEPLOYMENTS, NS, "slack-mcp"]["spec"]["replicas"] == 1  # nothing half-applied
        assert not operator.done()

        await reconciler.client.delete(server_path)

        def deleted() -> bool:
            """children and the resource gone"""
            return _live(kmock) == set() and kmock.objects[SERVERS, NS, "slack-mcp"].deleted

        await _eventually(deleted)
    finally:
        stop.set()
        await asyncio.wait_for(operator, timeout=20)
