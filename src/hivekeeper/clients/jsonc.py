"""Surgical edits of JSON-with-comments files: change one member, leave every other byte as it was.

Clients such as VS Code, Zed and opencode keep their settings in JSONC, full of the user's comments and
formatting. Re-serialising the whole document would destroy both, so this module parses the text into
spans (offsets of every object, member and value), and an edit replaces or inserts text at exactly one
place. Python has no maintained JSONC editor that does this without a Node.js runtime, hence this
module.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


class JsoncSyntaxError(ValueError):
    def __init__(self, message: str, text: str, offset: int) -> None:
        line = text.count("\n", 0, offset) + 1
        column = offset - (text.rfind("\n", 0, offset) + 1) + 1
        super().__init__(f"line {line}, column {column}: {message}")
        self.line = line
        self.column = column


@dataclass
class Node:
    kind: str  # "object" | "array" | "string" | "number" | "literal"
    start: int
    end: int  # exclusive
    members: list[Member] = field(default_factory=list)  # objects only


@dataclass
class Member:
    key: str
    key_start: int
    value: Node
    comma_after: int | None = None  # offset of the comma following the value, if any


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, message: str, offset: int | None = None) -> JsoncSyntaxError:
        return JsoncSyntaxError(message, self.text, self.pos if offset is None else offset)

    def skip_trivia(self) -> None:
        text, length = self.text, len(self.text)
        while self.pos < length:
            char = text[self.pos]
            if char in " \t\r\n\ufeff":
                self.pos += 1
            elif text.startswith("//", self.pos):
                newline = text.find("\n", self.pos)
                self.pos = length if newline < 0 else newline + 1
            elif text.startswith("/*", self.pos):
                close = text.find("*/", self.pos + 2)
                if close < 0:
                    raise self.error("unterminated block comment")
                self.pos = close + 2
            else:
                return

    def parse_document(self) -> Node:
        self.skip_trivia()
        node = self.parse_value()
        self.skip_trivia()
        if self.pos != len(self.text):
            raise self.error("unexpected text after the top-level value")
        return node

    def parse_value(self) -> Node:
        if self.pos >= len(self.text):
            raise self.error("unexpected end of file, a value was expected")
        char = self.text[self.pos]
        if char == "{":
            return self.parse_object()
        if char == "[":
            return self.parse_array()
        if char == '"':
            start = self.pos
            self.parse_string()
            return Node("string", start, self.pos)
        return self.parse_scalar()

    def parse_string(self) -> str:
        start = self.pos
        self.pos += 1
        text = self.text
        while True:
            if self.pos >= len(text):
                raise self.error("unterminated string", start)
            char = text[self.pos]
            if char == "\\":
                self.pos += 2
            elif char == '"':
                self.pos += 1
                try:
                    value: str = json.loads(text[start : self.pos])
                except json.JSONDecodeError as exc:
                    raise self.error(f"invalid string: {exc.msg}", start) from exc
                return value
            elif char == "\n":
                raise self.error("newline inside a string", self.pos)
            else:
                self.pos += 1

    def parse_scalar(self) -> Node:
        start = self.pos
        text = self.text
        while self.pos < len(text) and text[self.pos] not in " \t\r\n,:]}/":
            self.pos += 1
        token = text[start : self.pos]
        if token in ("true", "false", "null"):
            return Node("literal", start, self.pos)
        try:
            json.loads(token)
        except json.JSONDecodeError:
            raise self.error(f"unexpected {token[:20]!r}" if token else "a value was expected", start) from None
        return Node("number", start, self.pos)

    def parse_object(self) -> Node:
        node = Node("object", self.pos, -1)
        self.pos += 1
        while True:
            self.skip_trivia()
            if self.pos >= len(self.text):
                raise self.error("unterminated object", node.start)
            if self.text[self.pos] == "}":
                self.pos += 1
                node.end = self.pos
                return node
            if self.text[self.pos] != '"':
                raise self.error("a quoted member name was expected")
            key_start = self.pos
            key = self.parse_string()
            self.skip_trivia()
            if self.pos >= len(self.text) or self.text[self.pos] != ":":
                raise self.error("':' was expected after a member name")
            self.pos += 1
            self.skip_trivia()
            member = Member(key, key_start, self.parse_value())
            node.members.append(member)
            self.skip_trivia()
            if self.pos < len(self.text) and self.text[self.pos] == ",":
                member.comma_after = self.pos
                self.pos += 1
            elif self.pos < len(self.text) and self.text[self.pos] != "}":
                raise self.error("',' or '}' was expected")

    def parse_array(self) -> Node:
        node = Node("array", self.pos, -1)
        self.pos += 1
        while True:
            self.skip_trivia()
            if self.pos >= len(self.text):
                raise self.error("unterminated array", node.start)
            if self.text[self.pos] == "]":
                self.pos += 1
                node.end = self.pos
                return node
            self.parse_value()
            self.skip_trivia()
            if self.pos < len(self.text) and self.text[self.pos] == ",":
                self.pos += 1
            elif self.pos < len(self.text) and self.text[self.pos] != "]":
                raise self.error("',' or ']' was expected")


def parse(text: str) -> Node:
    """Parse JSONC text into spans; raises ``JsoncSyntaxError`` naming the line and column."""
    return _Parser(text).parse_document()


def loads(text: str) -> Any:
    """The value of a JSONC document (comments and trailing commas allowed)."""
    root = parse(text)
    return _value_of(text, root)


def _value_of(text: str, node: Node) -> Any:
    if node.kind == "object":
        return {member.key: _value_of(text, member.value) for member in node.members}
    if node.kind == "array":
        return json.loads(_strip_trivia(text[node.start : node.end]))
    return json.loads(text[node.start : node.end])


def _strip_trivia(fragment: str) -> str:
    """Remove comments and trailing commas so the standard parser accepts an array fragment."""
    out: list[str] = []
    parser = _Parser(fragment)
    while parser.pos < len(fragment):
        start = parser.pos
        parser.skip_trivia()
        if parser.pos > start:
            out.append(" ")
            continue
        char = fragment[parser.pos]
        if char == '"':
            parser.parse_string()
            out.append(fragment[start : parser.pos])
            continue
        if char == ",":
            lookahead = _Parser(fragment)
            lookahead.pos = parser.pos + 1
            lookahead.skip_trivia()
            if lookahead.pos < len(fragment) and fragment[lookahead.pos] in "]}":
                parser.pos += 1
                continue
        out.append(char)
        parser.pos += 1
    return "".join(out)


def _line_start(text: str, offset: int) -> int:
    return text.rfind("\n", 0, offset) + 1


def _indent_of(text: str, offset: int) -> str:
    start = _line_start(text, offset)
    end = start
    while end < len(text) and text[end] in " \t":
        end += 1
    return text[start:end]


def _indent_unit(text: str, obj: Node) -> str:
    """The indentation step the file uses, guessed from this object's first member."""
    if obj.members:
        inner = _indent_of(text, obj.members[0].key_start)
        outer = _indent_of(text, obj.start)
        if inner.startswith(outer) and len(inner) > len(outer):
            return inner[len(outer) :]
    return "\t" if "\n\t" in text else "  "


def _render(value: Any, base_indent: str, unit: str) -> str:
    rendered = json.dumps(value, indent=unit, ensure_ascii=False)
    return rendered.replace("\n", "\n" + base_indent)


def _find_object(text: str, root: Node, path: Sequence[str]) -> tuple[Node, list[str]]:
    """The deepest existing object along ``path`` and the keys still missing below it."""
    node = root
    for depth, key in enumerate(path):
        member = next((m for m in node.members if m.key == key), None)
        if member is None:
            return node, list(path[depth:])
        if member.value.kind != "object":
            raise JsoncSyntaxError(f"{'.'.join(path[: depth + 1])} is not an object", text, member.value.start)
        node = member.value
    return node, []


def set_member(text: str, path: Sequence[str], key: str, value: Any) -> str:
    """Set ``path.key`` to ``value``; creates missing parent objects; touches nothing else."""
    root = parse(text)
    if root.kind != "object":
        raise JsoncSyntaxError("the top-level value is not an object", text, root.start)
    obj, missing = _find_object(text, root, path)
    if missing:
        nested: Any = value
        for name in reversed([*missing[1:], key]):
            nested = {name: nested}
        return _insert_member(text, obj, missing[0], nested)
    existing = next((m for m in obj.members if m.key == key), None)
    if existing is None:
        return _insert_member(text, obj, key, value)
    unit = _indent_unit(text, obj)
    rendered = _render(value, _indent_of(text, existing.key_start), unit)
    return text[: existing.value.start] + rendered + text[existing.value.end :]


def _insert_member(text: str, obj: Node, key: str, value: Any) -> str:
    unit = _indent_unit(text, obj)
    if obj.members:
        last = obj.members[-1]
        indent = _indent_of(text, last.key_start)
        same_line = "\n" not in text[obj.start : last.value.end]
        rendered = json.dumps(value, ensure_ascii=False) if same_line else _render(value, indent, unit)
        entry = json.dumps(key, ensure_ascii=False) + ": " + rendered
        separator = " " if same_line else "\n" + indent
        if last.comma_after is not None:
            # A trailing comma already separates: put the new member after it, ending with one too.
            return text[: last.comma_after + 1] + separator + entry + "," + text[last.comma_after + 1 :]
        return text[: last.value.end] + "," + separator + entry + text[last.value.end :]
    outer = _indent_of(text, obj.start)
    entry = json.dumps(key, ensure_ascii=False) + ": " + _render(value, outer + unit, unit)
    body = text[obj.start + 1 : obj.end - 1]
    if body.strip():  # only comments inside: keep them, add the member after them
        return text[: obj.end - 1].rstrip(" \t") + unit + entry + "\n" + outer + text[obj.end - 1 :]
    return text[: obj.start + 1] + "\n" + outer + unit + entry + "\n" + outer + text[obj.end - 1 :]


def remove_member(text: str, path: Sequence[str], key: str) -> str:
    """Remove ``path.key`` if present (with its separator); returns the text unchanged otherwise."""
    root = parse(text)
    if root.kind != "object":
        return text
    obj, missing = _find_object(text, root, path)
    if missing:
        return text
    index = next((i for i, m in enumerate(obj.members) if m.key == key), None)
    if index is None:
        return text
    member = obj.members[index]
    if len(obj.members) == 1:
        return text[: obj.start + 1] + text[obj.end - 1 :]
    if index > 0:
        previous = obj.members[index - 1]
        assert previous.comma_after is not None  # members are comma-separated
        if member.comma_after is not None and index == len(obj.members) - 1:
            # keep the file's trailing-comma style: drop the member together with its own comma
            return text[: previous.comma_after + 1] + text[member.comma_after + 1 :]
        return text[: previous.comma_after] + text[member.value.end :]
    following = obj.members[1]
    line_start = _line_start(text, member.key_start)
    if text[line_start : member.key_start].strip() or _line_start(text, following.key_start) == line_start:
        return text[: member.key_start] + text[following.key_start :]
    return text[:line_start] + text[_line_start(text, following.key_start) :]
