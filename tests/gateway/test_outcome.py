"""How a call ended is labelled once (``Outcome``) and seen alike by audit, metrics and spans."""

from __future__ import annotations

import asyncio
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import pytest

from hivekeeper.gateway.chain import DENIED, Call, Outcome, Result, RpcError, observe
from hivekeeper.transport.jsonrpc import INTERNAL_ERROR


async def _observed(call: Call, answer: Result | BaseException) -> list[tuple[Outcome, Result | None]]:
    seen: list[tuple[Outcome, Result | None]] = []

    async def terminal(_call: Call) -> Result:
        if isinstance(answer, BaseException):
            raise answer
        return answer

    expectation: AbstractContextManager[Any] = (
        pytest.raises(type(answer)) if isinstance(answer, BaseException) else nullcontext()
    )
    with expectation:
        await observe(call, terminal, lambda outcome, result: seen.append((outcome, result)))
    return seen


def _call(method: str = "tools/call", **notes: str) -> Call:
    call = Call(method=method, params={"name": "t"})
    call.notes.update(notes)
    return call


@pytest.mark.parametrize(
    ("call", "answer", "expected"),
    [
        (_call(), {"content": []}, Outcome("ok")),
        (_call(), {"content": [], "isError": True}, Outcome("tool_error")),
        # isError means something only on tools/call
        (_call("prompts/get"), {"messages": [], "isError": True}, Outcome("ok")),
        (_call(denied_by="policy"), RpcError(DENIED, "no"), Outcome("denied", DENIED, "no")),
        (_call(), RpcError(-32602, "bad arguments"), Outcome("error", -32602, "bad arguments")),
        (_call(), KeyError("x"), Outcome("error", INTERNAL_ERROR, "KeyError: 'x'")),
        (_call(), asyncio.CancelledError(), Outcome("cancelled")),
    ],
)
async def test_every_ending_is_recorded_once_with_its_label(
    call: Call, answer: Result | BaseException, expected: Outcome
) -> None:
    seen = await _observed(call, answer)
    assert [outcome for outcome, _ in seen] == [expected]
    assert seen[0][1] == (None if isinstance(answer, BaseException) else answer)
