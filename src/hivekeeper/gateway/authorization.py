"""Authorization link: Cedar decides every call, and lists shrink to what the caller may use."""

from __future__ import annotations

from typing import Any

from hivekeeper.auth.identity import Caller
from hivekeeper.gateway.chain import DENIED, Call, Handler, Result, RpcError
from hivekeeper.policy.cedar import CedarPolicy

# method → (action for the request itself, action deciding each listed item, list key, item name key)
_LISTS = {
    "tools/list": ("list_tools", "call_tool", "tools", "name"),
    "prompts/list": ("list_prompts", "get_prompt", "prompts", "name"),
    "resources/list": ("list_resources", "read_resource", "resources", "uri"),
    "resources/templates/list": ("list_resources", "read_resource", "resourceTemplates", "uriTemplate"),
}
# Watching a resource reveals its changes, so subscribing (a 2025 request, or a URI on a 2026 listen stream) is
# decided as reading it. Unsubscribing is never refused: letting go grants nothing, and a refusal would keep
# sending updates to a caller who may no longer read them.
_TARGETED = {
    "tools/call": "call_tool",
    "prompts/get": "get_prompt",
    "resources/read": "read_resource",
    "resources/subscribe": "read_resource",
}


class CedarAuthorization:
    def __init__(self, policy: CedarPolicy, *, gateway_name: str = "gateway") -> None:
        self.policy = policy
        """The policy in force. A reload replaces it whole; each call reads it once, so one version decides it."""
        self.gateway_name = gateway_name

    async def __call__(self, call: Call, call_next: Handler) -> Result:
        policy = self.policy
        action = _TARGETED.get(call.method)
        if action is not None:
            target = call.target or ""
            call_context = _context(call.arguments, call.client_name, listing=False)
            decision = policy.decide(call.caller, action, target, call_context)
            if not decision.allowed:
                call.notes["denied_by"] = "policy"
                message = f"denied by policy: {call.caller.subject} may not {action} {target!r}"
                raise RpcError(DENIED, message)
            return await call_next(call)
        listing = _LISTS.get(call.method)
        if listing is None:
            return await call_next(call)
        list_action, item_action, key, name_key = listing
        context = _context({}, call.client_name, listing=True)
        if not policy.decide(call.caller, list_action, self.gateway_name, context).allowed:
            call.notes["denied_by"] = "policy"
            raise RpcError(DENIED, f"denied by policy: {call.caller.subject} may not {list_action}")
        result = await call_next(call)
        items = result.get(key)
        if isinstance(items, list) and items:
            names = [str(item.get(name_key, "")) for item in items]
            decisions = policy.decide_many(call.caller, item_action, names, context)
            result = {**result, key: [item for item, d in zip(items, decisions, strict=True) if d.allowed]}
        return result

    def may_hear_of(self, holder: Caller, client_name: str | None, uri: str) -> bool:
        """Whether the holder of a subscription to ``uri`` may still be sent its updates: asked as its subscribe
        was, but of the policy in force now, which may have changed since. Every update asks it of every
        holder, so the answer is remembered (per policy version: a reload asks afresh)."""
        return self.policy.allows(holder, "read_resource", uri, _context({}, client_name, listing=False))


def _context(arguments: dict[str, Any], client_name: str | None, *, listing: bool) -> dict[str, Any]:
    return {"arguments": arguments, "client": client_name or "", "listing": listing}
