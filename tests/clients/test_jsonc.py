"""Property tests of the JSONC editor: an edit is reversible and never disturbs other bytes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hivekeeper.clients import jsonc

keys = st.text(st.characters(codec="utf-8", exclude_characters='"\\'), min_size=1, max_size=8)
scalars = st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(max_size=10)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3))
documents = st.dictionaries(keys, values, max_size=5)
indents = st.sampled_from([None, 2, 4, "\t"])


def with_comments(text: str) -> str:
    """Decorate a JSON text the way people do: a header comment and a comment after each line's comma."""
    lines = text.split("\n")
    return "// settings\n" + "\n".join(line + " // note" if line.endswith(",") else line for line in lines) + "\n"


@settings(max_examples=200, deadline=None)
@given(document=documents, indent=indents, new_value=values, commented=st.booleans())
def test_set_then_remove_restores_the_text(
    document: dict[str, Any], indent: Any, new_value: Any, commented: bool
) -> None:
    text = json.dumps(document, indent=indent)
    if commented:
        text = with_comments(text)
    key = "hivekeeper-entry"
    edited = jsonc.set_member(text, ["servers"] if "servers" not in document else [], key, new_value)
    parsed = jsonc.loads(edited)
    target = parsed if "servers" in document else parsed["servers"]
    assert target[key] == new_value
    for name, value in document.items():
        if name != "servers":
            assert parsed[name] == value
    if "servers" in document:
        assert jsonc.remove_member(edited, [], key) == text


@settings(max_examples=100, deadline=None)
@given(document=documents, indent=indents)
def test_loads_matches_json(document: dict[str, Any], indent: Any) -> None:
    assert jsonc.loads(with_comments(json.dumps(document, indent=indent))) == document


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a": 1,, "b": 2}', "line 1, column 9: a quoted member name was expected"),
        ('{\n  "a": tru\n}', "line 2, column 8: unexpected 'tru'"),
        ("{\n  /* never closed\n}", "unterminated block comment"),
        ('{"a": "line\nbreak"}', "newline inside a string"),
        ('{"a": 1} {"b": 2}', "unexpected text after the top-level value"),
    ],
)
def test_syntax_errors_name_the_place(text: str, message: str) -> None:
    with pytest.raises(jsonc.JsoncSyntaxError, match=message):
        jsonc.loads(text)
