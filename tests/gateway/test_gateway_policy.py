"""Cedar authorization: decisions on real policies, the chain link, and malformed policies at load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hivekeeper.auth.identity import Caller
from hivekeeper.errors import ConfigError
from hivekeeper.gateway.authorization import CedarAuthorization
from hivekeeper.gateway.chain import DENIED, Call, Result, RpcError
from hivekeeper.policy.cedar import CedarPolicy

POLICIES = """
// engineers may call anything but delete_*, and add only with small numbers
permit(principal in Group::"eng", action == Action::"call_tool", resource)
  when { context.listing || !(resource == Tool::"calc_add") || context.arguments.a < 100 };
forbid(principal, action == Action::"call_tool", resource)
  when { resource == Tool::"files_delete" };
permit(principal, action == Action::"list_tools", resource);
permit(principal, action == Action::"get_prompt", resource == Prompt::"greeting")
  when { principal.email like "*@example.com" };
"""

ALICE = Caller("alice", "jwt", {"groups": ["eng"], "email": "alice@example.com"})
MALLORY = Caller("mallory", "jwt", {"groups": ["guests"], "email": "m@evil.test", "score": 1.5, "none": None})


@pytest.fixture(scope="module")
def policy() -> CedarPolicy:
    return CedarPolicy(POLICIES, "test.cedar")


def test_decisions(policy: CedarPolicy) -> None:
    call = {"arguments": {"a": 3}, "client": "", "listing": False}
    assert policy.decide(ALICE, "call_tool", "calc_add", call).allowed
    assert not policy.decide(ALICE, "call_tool", "calc_add", {**call, "arguments": {"a": 500}}).allowed
    assert not policy.decide(ALICE, "call_tool", "files_delete", call).allowed  # forbid wins
    assert not policy.decide(MALLORY, "call_tool", "calc_add", call).allowed  # default deny
    assert policy.decide(ALICE, "get_prompt", "greeting", call).allowed
    assert not policy.decide(MALLORY, "get_prompt", "greeting", call).allowed


def test_argument_of_the_wrong_type_denies_rather_than_crashes(policy: CedarPolicy) -> None:
    decision = policy.decide(ALICE, "call_tool", "calc_add", {"arguments": {"a": "x"}, "listing": False})
    assert not decision.allowed
    assert decision.errors


def test_any_name_is_decided_by_the_policy() -> None:
    # Every printable ASCII character, alone and inside a name, and names Cedar's text form of an entity id
    # would refuse (an apostrophe, a newline, a leading combining mark): each is what the policy says.
    names = [name for c in map(chr, range(0x20, 0x7F)) for name in (c, f"a{c}b")]
    names += ["é", "naïve/tool", "数据", "it's", "a\nb", "\u0301x"]
    listed = ", ".join(f"Tool::{json.dumps(name, ensure_ascii=False)}" for name in names)
    policy = CedarPolicy(f"permit(principal, action, resource) when {{ [{listed}].contains(resource) }};")
    context = {"arguments": {}, "client": "", "listing": False}
    assert all(d.allowed and not d.errors for d in policy.decide_many(ALICE, "call_tool", names, context))
    assert not policy.decide(ALICE, "call_tool", "not listed", context).allowed
    obrien = Caller("o'brien@example.com", "jwt", {})
    assert (
        CedarPolicy('permit(principal == User::"o\'brien@example.com", action, resource);')
        .decide(obrien, "call_tool", "echo", context)
        .allowed
    )


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("permit(principal, action, resource);\n\nforbid(principal action, resource);", 3),
        ('// a; comment\npermit(principal, action == Action::"a;b", resource)\n  when { true }', 2),
        ("permit(principal, action, resource) when { context.x == };", 1),
    ],
)
def test_malformed_policy_is_rejected_naming_the_line(text: str, line: int) -> None:
    with pytest.raises(ConfigError, match=rf"^p\.cedar: line {line}: invalid Cedar policy: "):
        CedarPolicy(text, "p.cedar")


def test_policy_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such policy file"):
        CedarPolicy.load(tmp_path / "missing.cedar")
    empty = tmp_path / "empty.cedar"
    empty.write_text("   \n")
    with pytest.raises(ConfigError, match="no policies"):
        CedarPolicy.load(empty)


async def test_link_denies_calls_and_filters_lists(policy: CedarPolicy) -> None:
    link = CedarAuthorization(policy)
    reached: list[str] = []

    async def terminal(call: Call) -> Result:
        reached.append(call.method)
        if call.method == "tools/list":
            return {"tools": [{"name": "calc_add"}, {"name": "files_delete"}, {"name": "echo"}]}
        return {"content": []}

    listed = await link(Call("tools/list", {}, ALICE), terminal)
    assert [t["name"] for t in listed["tools"]] == ["calc_add", "echo"]
    assert (await link(Call("tools/list", {}, MALLORY), terminal))["tools"] == []

    await link(Call("tools/call", {"name": "calc_add", "arguments": {"a": 1}}, ALICE), terminal)
    denied = Call("tools/call", {"name": "calc_add", "arguments": {"a": 1000}}, ALICE)
    with pytest.raises(RpcError) as info:
        await link(denied, terminal)
    assert (info.value.code, info.value.message) == (DENIED, "denied by policy: alice may not call_tool 'calc_add'")
    assert denied.notes["denied_by"] == "policy"
    assert reached == ["tools/list", "tools/list", "tools/call"]  # the denied call never reached the backend

    with pytest.raises(RpcError, match="may not list_prompts"):
        await link(Call("prompts/list", {}, ALICE), terminal)
