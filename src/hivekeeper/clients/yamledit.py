"""Surgical edits of YAML client configs (Goose, Continue): one entry changes, every other line stays.

ruamel.yaml reads the document and tells where each entry sits; the edit itself splices lines, because
even a round-trip dump re-spaces, re-quotes and re-wraps parts of a hand-written file.
"""

from __future__ import annotations

from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError


class YamlEditError(ValueError):
    pass


def _load(text: str) -> Any:
    try:
        return YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise YamlEditError(f"{where}{exc.problem}") from exc


def loads(text: str) -> Any:
    """The plain value of a YAML document (validates it; raises ``YamlEditError`` with the line)."""
    _load(text)
    return yaml.safe_load(text)


def _root(text: str) -> CommentedMap | None:
    root = _load(text)
    if root is not None and not isinstance(root, CommentedMap):
        raise YamlEditError("the top level of the file is not a mapping")
    return root


def _render(value: Any, indent: int) -> list[str]:
    dumped = yaml.safe_dump(value, default_flow_style=False, sort_keys=False, allow_unicode=True)
    return [" " * indent + line if line else line for line in dumped.splitlines()]


def _block_end(lines: list[str], root: CommentedMap, top_key: str) -> int:
    """Index of the first line after ``top_key``'s block: the next top-level key, or the end."""
    keys = list(root.keys())
    position = keys.index(top_key)
    end = root.lc.key(keys[position + 1])[0] if position + 1 < len(keys) else len(lines)
    return _trim_trailing_trivia(lines, root.lc.key(top_key)[0] + 1, end)


def _trim_trailing_trivia(lines: list[str], start: int, end: int) -> int:
    """Move ``end`` back over blank and comment-only lines, which belong to what follows."""
    while end > start and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
        end -= 1
    return end


def _join(lines: list[str], had_final_newline: bool) -> str:
    return "\n".join(lines) + ("\n" if had_final_newline else "")


def _replace_value_line(lines: list[str], root: CommentedMap, top_key: str, block: list[str]) -> list[str]:
    """``top_key:`` with an empty or flow value becomes a block holding ``block``."""
    line = root.lc.key(top_key)[0]
    column = root.lc.key(top_key)[1]
    return [*lines[:line], " " * column + f"{top_key}:", *block, *lines[line + 1 :]]


def set_mapping_entry(text: str, top_key: str, name: str, value: Any) -> str:
    """Set ``top_key.name`` (a block mapping entry) to ``value``."""
    root = _root(text)
    lines = text.splitlines()
    final_newline = text.endswith("\n")
    if root is None or top_key not in root:
        return _join([*lines, *_render({top_key: {name: value}}, 0)], final_newline)
    container = root[top_key]
    if container is None or (isinstance(container, CommentedMap) and not container):
        return _join(_replace_value_line(lines, root, top_key, _render({name: value}, 2)), final_newline)
    if not isinstance(container, CommentedMap):
        raise YamlEditError(f"{top_key} is not a mapping (line {root.lc.key(top_key)[0] + 1})")
    if container.fa.flow_style():
        raise YamlEditError(f"{top_key} is written in flow style {{...}} (line {root.lc.key(top_key)[0] + 1})")
    keys = list(container.keys())
    indent = container.lc.key(keys[0])[1]
    block = _render({name: value}, indent)
    end = _block_end(lines, root, top_key)
    if name not in container:
        return _join([*lines[:end], *block, *lines[end:]], final_newline)
    start = container.lc.key(name)[0]
    position = keys.index(name)
    stop = container.lc.key(keys[position + 1])[0] if position + 1 < len(keys) else end
    stop = _trim_trailing_trivia(lines, start + 1, stop)
    return _join([*lines[:start], *block, *lines[stop:]], final_newline)


def remove_mapping_entry(text: str, top_key: str, name: str) -> str:
    root = _root(text)
    if root is None or not isinstance(root.get(top_key), CommentedMap) or name not in root[top_key]:
        return text
    container: CommentedMap = root[top_key]
    lines = text.splitlines()
    keys = list(container.keys())
    if len(keys) == 1:
        line = root.lc.key(top_key)[0]
        end = _block_end(lines, root, top_key)
        column = root.lc.key(top_key)[1]
        return _join([*lines[:line], " " * column + f"{top_key}: {{}}", *lines[end:]], text.endswith("\n"))
    start = container.lc.key(name)[0]
    position = keys.index(name)
    end = _block_end(lines, root, top_key)
    stop = container.lc.key(keys[position + 1])[0] if position + 1 < len(keys) else end
    stop = _trim_trailing_trivia(lines, start + 1, stop)
    return _join([*lines[:start], *lines[stop:]], text.endswith("\n"))


def _item_index(container: CommentedSeq, match_key: str, name: str) -> int | None:
    for index, item in enumerate(container):
        if isinstance(item, CommentedMap) and item.get(match_key) == name:
            return index
    return None


def _item_start(lines: list[str], container: CommentedSeq, index: int) -> tuple[int, int]:
    """(line, dash column) of sequence item ``index``."""
    line, column = container.lc.item(index)
    dash = lines[line].rfind("-", 0, column + 1)
    return line, max(dash, 0)


def set_sequence_item(text: str, top_key: str, match_key: str, name: str, value: dict[str, Any]) -> str:
    """Set the item of sequence ``top_key`` whose ``match_key`` equals ``name`` (append if absent)."""
    root = _root(text)
    lines = text.splitlines()
    final_newline = text.endswith("\n")
    if root is None or top_key not in root:
        return _join([*lines, *_render({top_key: [value]}, 0)], final_newline)
    container = root[top_key]
    if container is None or (isinstance(container, CommentedSeq) and not container):
        return _join(_replace_value_line(lines, root, top_key, _render([value], 2)), final_newline)
    if not isinstance(container, CommentedSeq):
        raise YamlEditError(f"{top_key} is not a list (line {root.lc.key(top_key)[0] + 1})")
    if container.fa.flow_style():
        raise YamlEditError(f"{top_key} is written in flow style [...] (line {root.lc.key(top_key)[0] + 1})")
    _, dash_column = _item_start(lines, container, 0)
    block = _render([value], dash_column)
    end = _block_end(lines, root, top_key)
    index = _item_index(container, match_key, name)
    if index is None:
        return _join([*lines[:end], *block, *lines[end:]], final_newline)
    start, _ = _item_start(lines, container, index)
    stop = _item_start(lines, container, index + 1)[0] if index + 1 < len(container) else end
    stop = _trim_trailing_trivia(lines, start + 1, stop)
    return _join([*lines[:start], *block, *lines[stop:]], final_newline)


def remove_sequence_item(text: str, top_key: str, match_key: str, name: str) -> str:
    root = _root(text)
    if root is None or not isinstance(root.get(top_key), CommentedSeq):
        return text
    container: CommentedSeq = root[top_key]
    index = _item_index(container, match_key, name)
    if index is None:
        return text
    lines = text.splitlines()
    end = _block_end(lines, root, top_key)
    if len(container) == 1:
        line = root.lc.key(top_key)[0]
        column = root.lc.key(top_key)[1]
        return _join([*lines[:line], " " * column + f"{top_key}: []", *lines[end:]], text.endswith("\n"))
    start, _ = _item_start(lines, container, index)
    stop = _item_start(lines, container, index + 1)[0] if index + 1 < len(container) else end
    stop = _trim_trailing_trivia(lines, start + 1, stop)
    return _join([*lines[:start], *lines[stop:]], text.endswith("\n"))
