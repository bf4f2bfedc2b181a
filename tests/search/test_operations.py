"""What a request asks to do (get, list, search, create, update, delete) against what a tool does."""

from __future__ import annotations

import pytest

from hivekeeper.search import ToolIndex, Tuning
from hivekeeper.search.text import READ, name_operation, request_operation, tool_fields


@pytest.mark.parametrize(
    ("name", "operation"),
    [
        ("get_issue", "opget"),
        ("list_pull_requests", "oplist"),
        ("jira_get_issue", "opget"),  # a product prefix
        ("TwilioApiV2010--CreateMessage", "opcreate"),
        ("repo_pull_request_write", "opcreate"),  # "pull" is part of the resource, the verb is last
        ("create_schedule_override", "opcreate"),  # "schedule" is a noun here
        ("merge_branch", None),
    ],
)
def test_a_tool_name_says_what_it_does(name: str, operation: str | None) -> None:
    assert name_operation(name) == operation


@pytest.mark.parametrize(
    ("request_text", "operation"),
    [
        ("add Dune to my reading list", "opcreate"),
        ("find arxiv papers on RLHF and save them", "opsearch"),  # the first verb leads
        ("remove the stale label from #42", "opdelete"),
        ("which datadog monitors are alerting right now", READ),
        ("did anything ship when the incident fired?", READ),
        ("post 'get well soon' in #general", "opcreate"),  # verbs in quoted arguments do not count
        ("squash-merge 412 in acme/web", None),
    ],
)
def test_a_request_says_what_it_wants_done(request_text: str, operation: str | None) -> None:
    assert request_operation(request_text) == operation


def _tracker(tuning: Tuning | None = None) -> ToolIndex:
    index = ToolIndex(tuning=tuning)
    tools = [
        {"name": name, "description": "An issue in the tracker.", "inputSchema": {"type": "object"}}
        for name in ("get_issue", "list_issues", "create_issue", "delete_issue")
    ]
    index.update_server("tracker", tools)
    return index


def test_operation_agreement_nudges_siblings() -> None:
    query = "add an issue for the login crash"
    neutral = _tracker(Tuning(operation_match=0.0, operation_mismatch=0.0))
    plain = {hit.name: hit.score for hit in neutral.search(query, 4)}
    nudged = {hit.name: hit.score for hit in _tracker().search(query, 4)}
    tuning = Tuning()
    assert nudged["create_issue"] - plain["create_issue"] == pytest.approx(tuning.operation_match, abs=1e-3)
    # another write earns half; reading is another kind of operation
    assert nudged["delete_issue"] - plain["delete_issue"] == pytest.approx(tuning.operation_match / 2, abs=1e-3)
    assert nudged["get_issue"] - plain["get_issue"] == pytest.approx(-tuning.operation_mismatch, abs=1e-3)
    assert max(nudged, key=nudged.__getitem__) == "create_issue"


def test_a_question_favours_reading_tools() -> None:
    order = [hit.name for hit in _tracker().search("which issues mention the login crash?", 4)]
    assert set(order[:2]) == {"get_issue", "list_issues"}


def test_required_parameters_reach_the_embedded_text() -> None:
    schema = {
        "type": "object",
        "properties": {"author": {}, "docPath": {}, "a": {}, "b": {}},
        "required": ["docPath", "author", "a", "b"],
    }
    fields = tool_fields("word", "", {"name": "get_comments_by_author", "inputSchema": schema})
    assert fields.embedding_text().endswith("by doc Path author a")  # the first three only
    assert tool_fields("word", "", {"name": "x"}).required == ""
