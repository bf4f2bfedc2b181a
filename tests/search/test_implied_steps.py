"""Steps a request implies without stating them: a file to save to, a page to read, a sum to work out."""

from __future__ import annotations

from typing import Any

import pytest

from hivekeeper.search import ToolIndex, Tuning
from hivekeeper.search.steps import companion_steps, implied_steps


@pytest.mark.parametrize(
    ("request_text", "steps"),
    [
        ("summarise the trial and save it as Markdown to /root/notes/trial.md", ["write file"]),
        ("recommend cheap goodies and store the list in goods.xlsx", ["write spreadsheet file"]),
        ("a page about AI history, saved at ~/site/ai.html", ["write file"]),
        ("what plans are on https://acme.com/pricing", ["fetch url web page"]),
        ("estimate what 9.5 g of gold is worth today", ["calculate arithmetic expression"]),
        ("draft a comparison report in /root/notes/compare.md.", ["write file"]),
        ("create a branch in ~/code/shop", []),  # making something in a folder, not a file
        ("write a unit test for the parser", []),  # nothing to save to
        ("store the order in the users table", []),
        ("read ~/data/q3.xlsx", []),  # a file to read is a stated step
    ],
)
def test_steps_come_from_the_arguments(request_text: str, steps: list[str]) -> None:
    assert implied_steps(request_text) == steps


def _names(hits: list[Any]) -> list[str]:
    return [f"{hit.server}/{hit.name}" for hit in hits]


def test_a_destination_file_brings_a_tool_that_writes_files(index: ToolIndex) -> None:
    request = "list the open issues of acme/web and save the summary to /tmp/issues.md"
    hits = index.search(request, k=5)
    writer = next(hit for hit in hits if hit.name == "write_file")
    assert writer.server == "filesystem"
    assert "implied step: write file" in writer.why
    # the stated step keeps its place
    assert any("issue" in hit.name for hit in hits[:2])
    assert "filesystem/write_file" not in _names(index.search("list the open issues of acme/web", k=5))


def test_a_url_brings_a_tool_that_fetches_pages(index: ToolIndex) -> None:
    # the request is about posting a summary; reading the page is the step it leaves out
    hits = index.search("summarise https://example.com/changelog in three bullets for #eng", k=5)
    assert hits[0].key == ("slack", "slack_post_message")
    fetcher = next(hit for hit in hits if hit.key == ("fetch", "fetch"))
    assert "implied step: fetch url web page" in fetcher.why


def test_no_tool_joins_when_none_clearly_does_the_step(catalog_servers: list[dict[str, Any]]) -> None:
    chat_only = ToolIndex()
    slack = next(entry for entry in catalog_servers if entry["server"] == "slack")
    chat_only.update_server("slack", slack["tools"])
    hits = chat_only.search("post the standup notes to #eng and save them to /tmp/notes.md", k=5)
    assert hits and not any(why.startswith("implied step") for hit in hits for why in hit.why)


def test_the_floor_can_turn_implied_steps_off(index: ToolIndex, catalog_servers: list[dict[str, Any]]) -> None:
    strict = ToolIndex(tuning=Tuning(implied_step_floor=1.01))
    strict.update_servers({entry["server"]: entry["tools"] for entry in catalog_servers})
    request = "list the open issues of acme/web and save the summary to /tmp/issues.md"
    assert "filesystem/write_file" in _names(index.search(request, k=5))
    assert not any(why.startswith("implied step") for hit in strict.search(request, k=5) for why in hit.why)


def test_implied_tools_stay_within_the_servers_asked_for(index: ToolIndex) -> None:
    request = "list the open issues of acme/web and save the summary to /tmp/issues.md"
    hits = index.search(request, k=5, servers={"github-legacy-ts"})
    assert hits and {hit.server for hit in hits} == {"github-legacy-ts"}


@pytest.mark.parametrize(
    ("request_text", "steps"),
    [
        ("save https://acme.com/terms as a pdf", ["navigate to url"]),
        ("save the summary to /tmp/terms.pdf", []),
    ],
)
def test_companion_steps_come_from_the_arguments(request_text: str, steps: list[str]) -> None:
    assert companion_steps(request_text) == steps


def _browser_index(catalog_servers: list[dict[str, Any]], *, navigates: bool) -> ToolIndex:
    browser = [
        {"name": "save_as_pdf", "description": "Save the current page as a PDF file"},
        {"name": "screenshot", "description": "Take a screenshot of the current page"},
        {"name": "click", "description": "Click an element on the page"},
    ]
    if navigates:
        browser.append({"name": "navigate", "description": "Navigate to a URL"})
    built = ToolIndex()
    fetch = next(entry for entry in catalog_servers if entry["server"] == "fetch")
    built.update_servers({"browser": browser, "fetch": fetch["tools"]})
    return built


def test_a_url_brings_the_navigate_tool_of_the_browser_that_does_the_work(
    catalog_servers: list[dict[str, Any]],
) -> None:
    hits = _browser_index(catalog_servers, navigates=True).search("save https://acme.com/terms as a pdf", k=3)
    assert hits[0].key == ("browser", "save_as_pdf")
    # opening the page is the browser's job, and it goes before another product's fetch tool
    assert hits[1].key == ("browser", "navigate")
    assert "implied step: navigate to url" in hits[1].why


def test_no_companion_joins_when_the_product_cannot_do_the_step(catalog_servers: list[dict[str, Any]]) -> None:
    hits = _browser_index(catalog_servers, navigates=False).search("save https://acme.com/terms as a pdf", k=3)
    assert hits[0].key == ("browser", "save_as_pdf")
    assert not any("navigate to url" in why for hit in hits for why in hit.why)
