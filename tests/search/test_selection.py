"""Prompt-aware selection and token accounting against the cl100k tokenizer."""

from __future__ import annotations

import json
from typing import Any

import pytest
import quicktok

from hivekeeper.errors import ConfigError
from hivekeeper.search import ToolIndex, ToolSelector, request_text, tools_tokens


def cl100k(text: str) -> int:
    return len(quicktok.get_encoding("cl100k_base").encode(text))


def test_token_counts_match_the_tokenizer_on_the_json_a_host_sends(index: ToolIndex) -> None:
    selection = ToolSelector(index).select("list the files in my home directory", k=3)
    sent = json.dumps({"tools": selection.tools}, ensure_ascii=False)
    assert selection.tokens_selected == cl100k(sent)
    everything = json.dumps(
        {
            "tools": [
                {
                    key: t[key]
                    for key in ("name", "title", "description", "inputSchema", "outputSchema", "annotations")
                    if key in t
                }
                for _, t in index.tools()
            ]
        },
        ensure_ascii=False,
    )
    assert selection.tokens_full == cl100k(everything)
    assert selection.tokens_saved == selection.tokens_full - selection.tokens_selected
    assert selection.reduction == pytest.approx(1 - selection.tokens_selected / selection.tokens_full)
    assert selection.reduction > 0.95


def test_known_token_count() -> None:
    # a known answer: cl100k encodes '{"tools": []}' as 5 tokens
    assert tools_tokens([]) == cl100k('{"tools": []}') == 5


def test_selection_within_servers_counts_only_their_tools(index: ToolIndex) -> None:
    selector = ToolSelector(index)
    narrowed = selector.select("create an issue", k=2, servers={"gitlab-legacy"})
    assert {t["server"] for t in narrowed.as_dict()["tools"]} == {"gitlab-legacy"}
    assert narrowed.tokens_full == tools_tokens(t for _, t in index.tools({"gitlab-legacy"}))
    assert narrowed.tokens_full < selector.full_tokens()


def test_as_dict_is_json_ready(index: ToolIndex) -> None:
    data = ToolSelector(index).select("what time is it in Tokyo", k=2).as_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["tools"][0]["definition"]["name"] == data["tools"][0]["name"]
    assert set(data["tokens"]) == {"selected", "full", "saved", "reduction"}


def test_chat_messages_select_on_the_latest_user_turns(index: ToolIndex) -> None:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are a helpful assistant with access to git."},
        {"role": "user", "content": "what changed in the working tree?"},
        {"role": "assistant", "content": "Two files are modified."},
        {"role": "user", "content": [{"type": "text", "text": "commit them with message 'wip'"}]},
    ]
    assert request_text(messages) == "what changed in the working tree?\ncommit them with message 'wip'"
    names = [t["name"] for t in ToolSelector(index).select(messages, k=5).tools]
    assert "git_commit" in names


@pytest.mark.parametrize(
    ("messages", "message"),
    [
        ([{"role": "assistant", "content": "hi"}], "no user turn"),
        (["just a string"], r"messages\[0\] must be an object"),
        ([{"role": "user", "content": 42}], r"messages\[0\]\.content must be a string or a list"),
    ],
)
def test_bad_messages_are_rejected(messages: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        request_text(messages)
