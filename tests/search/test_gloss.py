"""Tools described in Chinese are found by requests written in English, through a dictionary gloss."""

from __future__ import annotations

from hivekeeper.search import ToolIndex
from hivekeeper.search.gloss import english_gloss
from hivekeeper.search.text import tool_fields


def test_the_gloss_gives_english_words_for_chinese_ones() -> None:
    gloss = english_gloss("获取 BBC 新闻，提供全球新闻")
    assert "news" in gloss.split()
    assert "BBC" not in gloss  # only the Chinese is glossed; the rest is indexed as written
    assert english_gloss("List open pull requests") == ""
    assert english_gloss("") == ""


def test_traditional_characters_are_glossed_too() -> None:
    assert "train station" in english_gloss("火車站")


def test_only_chinese_descriptions_carry_a_gloss() -> None:
    chinese = tool_fields("feeds", "", {"name": "feed_7", "description": "获取天气预报"})
    english = tool_fields("feeds", "", {"name": "feed_8", "description": "Get the weather forecast."})
    assert "weather forecast" in chinese.gloss
    assert "weather forecast" in chinese.embedding_text()
    assert english.gloss == ""


def test_an_english_request_finds_a_tool_described_in_chinese() -> None:
    index = ToolIndex()
    # names that say nothing: only the descriptions tell the tools apart
    index.update_server(
        "feeds",
        [
            {"name": "feed_1", "description": "获取天气预报", "inputSchema": {"type": "object"}},
            {"name": "feed_2", "description": "查询火车票", "inputSchema": {"type": "object"}},
            {"name": "feed_3", "description": "根据人数推荐菜谱", "inputSchema": {"type": "object"}},
        ],
    )
    assert index.search("recommend a recipe for four people", k=1)[0].name == "feed_3"
    assert index.search("what's the weather forecast for tomorrow", k=1)[0].name == "feed_1"
    assert index.search("book a train ticket to Shanghai", k=1)[0].name == "feed_2"
