"""The kopf layer: when to reconcile, and where the result goes (the resource's status).

Every kind gets the same handlers: create/update/resume reconcile at once; an event on any child
(a deleted Service, an edited Deployment, pods becoming ready) reconciles its owner within a second,
so drift is undone and the ready count is fresh; a slow timer reconciles everything as a safety net
(and refreshes ``observedTools``); delete removes the children. The registry is built explicitly rather
than with kopf's global decorators so tests and the CLI get a fresh, import-side-effect-free one.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import kopf

from hivekeeper.operator import resources as r
from hivekeeper.operator.kubeapi import CHILD_RESOURCES, Connection, KubeClient
from hivekeeper.operator.reconcile import Reconciler
from hivekeeper.operator.render import MANAGED_BY, RenderOptions

DRIFT_INTERVAL = float(os.environ.get("HIVEKEEPER_DRIFT_INTERVAL", "300"))
CHILD_DEBOUNCE = 1.0
FINALIZER = f"{r.GROUP}/finalizer"


def connection_from(info: kopf.ConnectionInfo) -> Connection:
    return Connection(
        server=info.server,
        token=info.token,
        ca_path=str(info.ca_path) if info.ca_path else None,
        client_cert=str(info.certificate_path) if info.certificate_path else None,
        client_key=str(info.private_key_path) if info.private_key_path else None,
        insecure=bool(info.insecure),
    )


def render_options_from_env() -> RenderOptions:
    defaults = RenderOptions()
    return RenderOptions(
        hivekeeper_image=os.environ.get("HIVEKEEPER_IMAGE", defaults.hivekeeper_image),
        image_pull_policy=os.environ.get("HIVEKEEPER_IMAGE_PULL_POLICY", defaults.image_pull_policy),
    )


async def reconcile(body: Mapping[str, Any], patch: kopf.Patch, memo: Any, logger: logging.Logger, **_: Any) -> None:
    reconciler: Reconciler = memo.reconciler
    result = await reconciler.reconcile(body)
    patch.status.update(result.status)
    changed = {name: outcome.value for name, outcome in result.outcomes.items() if outcome.value != "unchanged"}
    if changed or result.pruned:
        logger.info("applied %s, pruned %s in %.0f ms", changed, result.pruned, result.seconds * 1000)
    ready = next((c for c in result.status.get("conditions", []) if c["type"] == "Ready"), None)
    if ready and ready["reason"] == "InvalidSpec":
        logger.warning("invalid spec: %s", ready["message"])


async def delete(body: Mapping[str, Any], memo: Any, logger: logging.Logger, **_: Any) -> None:
    reconciler: Reconciler = memo.reconciler
    deleted = await reconciler.delete(body)
    logger.info("deleted %s", deleted)


async def child_event(body: Mapping[str, Any], type: str | None, memo: Any, logger: logging.Logger, **_: Any) -> None:
    """A Deployment/Service/... the operator made changed: undo drift now, refresh readiness now."""
    if type is None:  # the initial listing at start-up: resume handlers already reconcile everything
        return
    reconciler: Reconciler = memo.reconciler
    result = await reconciler.reconcile_owner(body, debounce=getattr(memo, "child_debounce", CHILD_DEBOUNCE))
    if result is not None:
        repaired = {name: outcome.value for name, outcome in result.outcomes.items() if outcome.value != "unchanged"}
        if repaired:
            logger.info("corrected drift: %s", repaired)


async def _login(settings: kopf.OperatorSettings, **kwargs: Any) -> kopf.ConnectionInfo | None:
    # kopf's own default login imports the kubernetes client (tens of MB); these two need nothing.
    return kopf.login_with_service_account(settings=settings, **kwargs) or kopf.login_with_kubeconfig(
        settings=settings, **kwargs
    )


async def _startup(settings: kopf.OperatorSettings, memo: Any, logger: logging.Logger, **kwargs: Any) -> None:
    settings.persistence.finalizer = FINALIZER
    settings.posting.level = logging.WARNING  # k8s Events only for problems
    settings.watching.server_timeout = 300
    settings.networking.request_timeout = 60
    if getattr(memo, "reconciler", None) is None:  # tests inject their own
        info = await _login(settings=settings, logger=logger, **kwargs)
        if info is None:
            raise kopf.PermanentError("no in-cluster service account and no kubeconfig")
        memo.reconciler = Reconciler(KubeClient(connection_from(info)), render_options_from_env())


async def _cleanup(memo: Any, **_: Any) -> None:
    reconciler: Reconciler | None = getattr(memo, "reconciler", None)
    if reconciler is not None:
        await reconciler.client.aclose()


def build_registry(*, drift_interval: float = DRIFT_INTERVAL, login: bool = True) -> kopf.OperatorRegistry:
    """A registry with every handler of the operator; ``login=False`` when the caller supplies credentials."""
    registry = kopf.OperatorRegistry()
    # kopf's decorator protocols spell out every keyword a handler may receive; ours take what they
    # use plus **_, which kopf supports but the protocols cannot express.
    on: Any = kopf.on
    timer: Any = kopf.timer
    on.startup(registry=registry)(_startup)
    on.cleanup(registry=registry)(_cleanup)
    if login:
        on.login(registry=registry)(_login)
    for kind in r.KINDS.values():
        target = {"group": r.GROUP, "version": r.VERSION, "plural": kind.plural, "registry": registry}
        on.resume(**target, id="reconcile")(reconcile)
        on.create(**target, id="reconcile")(reconcile)
        on.update(**target, id="reconcile")(reconcile)
        timer(**target, interval=drift_interval, initial_delay=drift_interval, id="drift")(reconcile)
        on.delete(**target, id="cleanup")(delete)
    for group, version, plural in CHILD_RESOURCES:
        on.event(
            group=group,
            version=version,
            plural=plural,
            labels={"app.kubernetes.io/managed-by": MANAGED_BY},
            registry=registry,
            id="child",
        )(child_event)
    return registry


__all__ = [
    "DRIFT_INTERVAL",
    "FINALIZER",
    "build_registry",
    "connection_from",
    "delete",
    "reconcile",
    "render_options_from_env",
]
