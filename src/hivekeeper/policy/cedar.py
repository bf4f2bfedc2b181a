"""Cedar authorization of MCP requests.

Entities the policies see:
- principal ``User::"<sub>"`` with the token's claims as attributes (``principal.email``,
  ``principal.groups``…) and ``Group::"<g>"`` parents, so ``principal in Group::"eng"`` works;
- actions ``Action::"call_tool" | "get_prompt" | "read_resource" | "list_tools" | "list_prompts" |
  "list_resources"``;
  subscribing to a resource (``resources/subscribe``, or a URI of a ``subscriptions/listen`` stream) is decided
  as ``read_resource``, and unsubscribing is never refused;
- resources ``Tool::"<name>"``, ``Prompt::"<name>"``, ``Resource::"<uri>"`` (the names clients see) and,
  for list actions, ``Gateway::"<gateway name>"``;
- context ``{arguments, backend, client, listing}``: a call's arguments; ``listing`` is true when the
  gateway asks whether to *show* an item in a list (then ``arguments`` is empty, so argument-conditioned
  permits should read ``context.listing || context.arguments.x …``).

Nothing is permitted that no policy permits (Cedar's default deny); a ``forbid`` always wins.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cedarpy
import orjson

from hivekeeper.auth.identity import Caller
from hivekeeper.errors import ConfigError

ACTIONS = ("call_tool", "get_prompt", "read_resource", "list_tools", "list_prompts", "list_resources")
ENTITY_CACHE_SIZE = 4096  # distinct callers whose parsed entities are kept
DECISION_CACHE_SIZE = 4096  # distinct questions whose remembered answer ``allows`` keeps
RESOURCE_TYPES = {"call_tool": "Tool", "get_prompt": "Prompt", "read_resource": "Resource"}


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reasons: tuple[str, ...]  # ids of the policies that decided
    errors: tuple[str, ...]  # evaluation errors (a policy that errored does not permit)


def _uid(kind: str, name: str) -> dict[str, str]:
    # The {type, id} form, as the entities use: Cedar's text form goes through its entity-uid parser, which
    # costs more than the decision itself and refuses some names outright ("needs to be normalized": an
    # apostrophe as in O'Brien, control characters, a leading combining mark), denying them whatever the policy.
    return {"type": kind, "id": name}


def _cedar_value(value: Any) -> Any:
    """Cedar has no floats or nulls: floats become strings, nulls are dropped."""
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, Mapping):
        return {str(k): _cedar_value(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_cedar_value(item) for item in value if item is not None]
    return str(value)


class CedarPolicy:
    """A parsed Cedar policy set, checked once at load. It never changes: a new version is a new instance."""

    def __init__(self, text: str, source: str = "policies") -> None:
        self.source = source
        self.text = text
        self.version = hashlib.sha256(text.encode()).hexdigest()  # what `sha256sum` says of the file
        try:
            self._policies = cedarpy.PolicySet.from_str(text)
        except ValueError as exc:
            raise ConfigError(_locate_error(text, source, exc)) from exc
        if not text.strip():
            raise ConfigError(f"{source}: no policies (an empty set would deny everything)")
        self._entity_cache: dict[bytes, cedarpy.Entities] = {}
        self._decision_cache: dict[bytes, bool] = {}

    @classmethod
    def load(cls, path: Path) -> CedarPolicy:
        try:
            return cls(path.read_text(encoding="utf-8"), str(path))
        except FileNotFoundError as exc:
            raise ConfigError(f"{path}: no such policy file") from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path}: not UTF-8 text") from exc
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the policy file: {exc.strerror or exc}") from exc

    def parsed_entities(self, caller: Caller) -> cedarpy.Entities:
        """The caller's entities, parsed once per distinct identity: parsing costs Cedar more than deciding."""
        key = _caller_key(caller)
        parsed = self._entity_cache.pop(key, None)
        if parsed is None:
            parsed = cedarpy.Entities.from_json_str(orjson.dumps(self.entities(caller), default=str).decode())
            if len(self._entity_cache) >= ENTITY_CACHE_SIZE:
                del self._entity_cache[next(iter(self._entity_cache))]  # least recently used first
        self._entity_cache[key] = parsed
        return parsed

    def entities(self, caller: Caller) -> list[dict[str, Any]]:
        groups = caller.groups
        attrs = {k: _cedar_value(v) for k, v in caller.claims.items() if v is not None}
        attrs["auth_method"] = caller.method
        attrs.setdefault("groups", list(groups))
        principal = {
            "uid": {"type": "User", "id": caller.subject},
            "attrs": attrs,
            "parents": [{"type": "Group", "id": group} for group in groups],
        }
        return [principal, *({"uid": {"type": "Group", "id": g}, "attrs": {}, "parents": []} for g in groups)]

    def decide_many(
        self, caller: Caller, action: str, resources: Sequence[str], context: Mapping[str, Any]
    ) -> list[Decision]:
        """One decision per resource name (the resource type follows from the action)."""
        kind = RESOURCE_TYPES.get(action, "Gateway")
        principal = _uid("User", caller.subject)
        action_uid = _uid("Action", action)
        # Serialised once for the whole batch, and by orjson: cedarpy would run json.dumps on each request's dict.
        cedar_context = orjson.dumps(_cedar_value(context)).decode()
        requests = [
            {"principal": principal, "action": action_uid, "resource": _uid(kind, name), "context": cedar_context}
            for name in resources
        ]
        if not requests:
            return []
        results = cedarpy.is_authorized_batch(requests, self._policies, self.parsed_entities(caller))
        return [
            Decision(
                allowed=result.allowed,
                reasons=tuple(result.diagnostics.reasons),
                errors=tuple(result.diagnostics.errors),
            )
            for result in results
        ]

    def decide(self, caller: Caller, action: str, resource: str, context: Mapping[str, Any]) -> Decision:
        return self.decide_many(caller, action, [resource], context)[0]

    def allows(self, caller: Caller, action: str, resource: str, context: Mapping[str, Any]) -> bool:
        """``decide(...).allowed``, remembered: for questions asked again and again with the same inputs (may
        this holder still hear of this resource?). The policy never changes, so neither do its answers."""
        key = _caller_key(caller) + orjson.dumps([action, resource, context], option=orjson.OPT_SORT_KEYS, default=str)
        allowed = self._decision_cache.get(key)
        if allowed is None:
            allowed = self.decide(caller, action, resource, context).allowed
            if len(self._decision_cache) >= DECISION_CACHE_SIZE:
                del self._decision_cache[next(iter(self._decision_cache))]  # the oldest question first
            self._decision_cache[key] = allowed
        return allowed


def _caller_key(caller: Caller) -> bytes:
    return orjson.dumps([caller.subject, caller.method, caller.claims], option=orjson.OPT_SORT_KEYS, default=str)


def _statements(text: str) -> Iterator[tuple[int, str]]:
    """Split policy text into statements with their first line, honouring strings and // comments."""
    start_line, line, begun = 1, 1, False
    current: list[str] = []
    in_string = escaped = in_comment = False
    for char in text:
        current.append(char)
        if char == "\n":
            line += 1
            in_comment = False
            continue
        if in_comment:
            continue
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            continue
        if char == "/" and len(current) >= 2 and current[-2] == "/":
            in_comment = True
            continue
        if not begun and not char.isspace() and char != "/":
            begun, start_line = True, line
        if char == '"':
            in_string = True
        elif char == ";":
            yield start_line, "".join(current)
            current, begun = [], False
    if "".join(current).strip() and begun:
        yield start_line, "".join(current)


def _locate_error(text: str, source: str, error: ValueError) -> str:
    for line, statement in _statements(text):
        try:
            cedarpy.PolicySet.from_str(statement)
        except ValueError as exc:
            return f"{source}: line {line}: invalid Cedar policy: {exc}"
    return f"{source}: invalid Cedar policy: {error}"
