"""The domain lexicon: concept classes of resource words and the kinds of arguments."""

from __future__ import annotations

from typing import Any

import pytest

from hivekeeper.search import ToolIndex
from hivekeeper.search.lexicon import CONCEPTS, argument_kinds, token
from hivekeeper.search.text import (
    ARGUMENT_WEIGHT,
    READ,
    concept_terms,
    intent_text,
    query_terms,
    request_operation,
    words,
)


@pytest.mark.parametrize(
    ("request_text", "kind"),
    [
        ("open a PR in acme/payments-api", "repository"),
        ("mark ENG-4521 as done", "issue"),
        ("what's the status of #482", "issue"),
        ("approve !17", "merge"),
        ("post it in #releases", "channel"),
        ("send +14155550123 the code", "phone"),
        ("forward it to sam@acme.com", "email"),
        ("tell @alex it shipped", "user"),
        ("summarise https://example.com/pricing", "url"),
        ("what does acme.io say about refunds", "url"),
        ("list ~/projects/site", "file"),
        ("tail /var/log/syslog", "file"),
        ("sum column B of q3.xlsx", "spreadsheet"),
        ("fix the typos in contract_v3.docx", "document"),
        ("crop banner.png", "image"),
        ("run SELECT name FROM users WHERE id = 4", "database"),
        ("run postgres:16 locally", "container"),
        ("trigger it at */15 * * * *", "schedule"),
        ("revert a1b2c3d4e5", "commit"),
        ("find a slot at 10am", "event"),
        ("is checkout throwing 500s?", "log"),
        ("what changed in v2.3.1", "deployment"),
        ("refund the $49.99 charge", "payment"),
    ],
)
def test_argument_shapes_reveal_their_kind(request_text: str, kind: str) -> None:
    assert kind in argument_kinds(request_text)


@pytest.mark.parametrize(
    "request_text",
    [
        "list the open issues",
        "what changed since 2024-05-01?",
        "sam@acme.com",
        "fetch acme.com/terms",
        "3/4 done",
        "our CI/CD is red",
        "tabs and/or spaces",
    ],
)
def test_arguments_are_not_mistaken_for_repositories(request_text: str) -> None:
    assert "repository" not in argument_kinds(request_text)


def test_line_numbers_are_not_container_images() -> None:
    assert "container" not in argument_kinds("fix the crash at app.py:42")


def test_framework_names_are_not_files() -> None:
    assert "file" not in argument_kinds("upgrade Next.js on the marketing site")


def test_numbers_alone_reveal_nothing() -> None:
    assert argument_kinds("find me a 512 number for the austin office, about 300 of them") == []


def test_every_argument_kind_and_concept_member_is_plain_words() -> None:
    for pattern_text in ("https://a.io/x", "x@y.com", "+14155550123", "a.xlsx", "postgres:16"):
        assert all(words(kind) == [kind] for kind in argument_kinds(pattern_text))
    for concept, members in CONCEPTS.items():
        assert members and all(words(member) for member in members), concept


def test_synonyms_share_a_concept_token() -> None:
    assert token("message") in concept_terms(words("ping Alex"))
    assert token("message") in concept_terms(words("post_message"))
    # two-word members, stopwords included
    assert token("oncall") in concept_terms(words("who is on call today"))
    assert token("pullrequest") in concept_terms(words("review my merge requests"))


def test_concepts_weigh_less_than_the_words_of_the_request() -> None:
    weights = query_terms("ping alex about lunch")
    assert 0 < weights[token("message")] < weights["ping"]


def test_argument_kinds_reach_the_search_terms_and_the_embedded_text() -> None:
    assert token("phone") in query_terms("reach +14155550123 now")
    assert "phone" in intent_text("reach +14155550123 now").split()


def _tool(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "description": description, "inputSchema": {"type": "object", "properties": {}}}


@pytest.fixture(scope="module")
def small_index() -> ToolIndex:
    index = ToolIndex()
    index.update_servers(
        {
            "chat": [_tool("post_message", "Post a message to a conversation."), _tool("list_users", "List users.")],
            "calendar": [_tool("create_event", "Create an event."), _tool("list_calendars", "List calendars.")],
            "store": [_tool("read_table", "Read rows of a workbook."), _tool("get_weather", "Weather now.")],
            "shell": [_tool("kill_process", "Terminate a process by pid."), _tool("list_tabs", "List tabs.")],
        }
    )
    return index


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("DM the team that lunch is here", ("chat", "post_message")),
        ("set up a meeting with Sam tomorrow at 10am", ("calendar", "create_event")),
        ("show me what's in ~/reports/q3.xlsx", ("store", "read_table")),
        ("the daemon on port 3000 is stuck, stop it", ("shell", "kill_process")),
    ],
)
def test_requests_reach_tools_through_shared_concepts(small_index: ToolIndex, query: str, expected: Any) -> None:
    assert small_index.search(query, k=1)[0].key == expected


def test_what_a_message_says_weighs_like_an_argument() -> None:
    # "prefers" and "updates" are what to remember, not which tool to use
    weights = query_terms("remember that Dana prefers async updates")
    assert weights["rememb"] == 1.0
    assert weights["prefer"] == weights["updat"] == ARGUMENT_WEIGHT
    assert intent_text("reply to Tom saying we'll revisit in January").split()[:2] == ["reply", "tom"]
    assert "revisit" not in intent_text("reply to Tom saying we'll revisit in January").split()
    # a relative clause still describes the thing to find
    assert query_terms("find the PR that fixed the login bug")["fix"] == 1.0
    assert query_terms("tell me the PRs that merged today")["merg"] == 1.0


@pytest.mark.parametrize(
    ("request_text", "sends"),
    [
        ("text +14155550123 'your order has shipped'", True),
        ("what's on my calendar? email the attendees that I'm late", True),
        ("slack the team the release notes", True),
        ("text Alex that the build is green", True),
        ("text file contents of notes.md", False),  # a kind of file, not a verb
        ("ping 10.0.0.1", False),  # a host, not a person
        ("search my email for invoices", False),
    ],
)
def test_a_channel_used_as_a_verb_means_sending(request_text: str, sends: bool) -> None:
    assert ("send" in intent_text(request_text).split()) is sends


def test_a_channel_verb_asks_to_create() -> None:
    assert request_operation("email the attendees that I'm running late") == "opcreate"
    assert request_operation("email from the bank: what did it say?") == READ


def test_remembering_reaches_the_memory_server(index: ToolIndex) -> None:
    # the memory server's tools speak of entities and observations in a knowledge graph, never of
    # remembering; its name and the request's verb meet through the lexicon
    keys = [hit.key for hit in index.search("remember that my manager is Dana and she prefers async updates", k=3)]
    assert {("memory", "create_entities"), ("memory", "add_observations")} & set(keys)


def test_a_message_to_someone_reaches_the_chat_tool(index: ToolIndex) -> None:
    assert index.search("text Alex that the build is green", k=1)[0].key == ("slack", "slack_post_message")


def test_plural_acronyms_stay_whole() -> None:
    assert words("list my open PRs and MRs") == ["list", "my", "open", "prs", "and", "mrs"]
    assert words("getHTTPServer") == ["get", "http", "server"]
    assert token("pullrequest") in query_terms("which PRs need my review")
