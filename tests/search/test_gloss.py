"""Tools described in Chinese are found by requests written in English, and requests written in Chinese
find tools described in English, through a dictionary gloss."""

from __future__ import annotations

import pytest

from hivekeeper.search import ToolIndex
from hivekeeper.search.gloss import english_gloss, english_reading
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


def test_a_chinese_request_reads_as_english_in_the_words_of_tools() -> None:
    reading = english_reading("列出 acme/api 仓库里所有打开的拉取请求，然后发消息到 #eng。")
    # software words as tools say them (CC-CEDICT's first senses are "depot" and "to found")
    assert "repository" in reading.split() and "pull request" in reading and "depot" not in reading
    # identifiers stay as written, function words read as nothing, full-width commas split clauses
    assert "acme/api" in reading.split() and "#eng." in reading.split()
    assert ", then send message" in reading
    assert "China" not in english_reading("在 Notion 中创建一个新页面")  # 中 is "in" here
    assert english_reading("list open pull requests") == "list open pull requests"


def test_traditional_characters_read_like_simplified_ones() -> None:
    # the software words are written simplified; their traditional forms come from CC-CEDICT's own pairs
    assert english_reading("列出 acme/api 倉庫裡所有打開的拉取請求") == english_reading(
        "列出 acme/api 仓库里所有打开的拉取请求"
    )


def test_cross_references_of_the_dictionary_are_no_meaning() -> None:
    # CC-CEDICT lists 什么 first as "dialectal equivalent of 什麼|什么[shen2 me5]"
    assert "dialectal" not in english_gloss("什么")


@pytest.mark.parametrize(
    ("request_text", "expected"),
    [
        ("列出 acme/api 仓库里所有打开的拉取请求", ("github-legacy-ts", "list_pull_requests")),
        ("列出 acme/api 倉庫裡所有打開的拉取請求", ("github-legacy-ts", "list_pull_requests")),
        ("在 gitlab 上新建一个问题", ("gitlab-legacy", "create_issue")),
        ("给 octo/api 仓库创建一个新分支 feature/x", ("github-legacy-ts", "create_branch")),
        ("搜索 GitHub 上关于 MCP 网关的代码", ("github-legacy-ts", "search_code")),
        ("帮我抓取这个网页的内容 https://example.com/pricing", ("fetch", "fetch")),
    ],
)
def test_a_chinese_request_finds_a_tool_described_in_english(
    index: ToolIndex, request_text: str, expected: tuple[str, str]
) -> None:
    assert index.search(request_text, k=1)[0].key == expected


def test_a_chinese_request_is_not_drawn_to_tools_described_in_chinese_by_common_characters(index: ToolIndex) -> None:
    # the fixture's 12306-mcp tools are described in Chinese; "看一下" (have a look) is no reason to pick them
    hits = index.search("看一下 ~/code/shop 里还没暂存的改动", k=3)
    assert hits[0].server == "git", [h.key for h in hits]
