"""Steps a request implies but does not state.

A request's words name the work it wants done; some of its arguments also call for a tool that no
word names. "Write a research summary and save it to /root/notes/x.md" needs a tool that writes
files; "what are the plans on https://acme.com/pricing" needs one that fetches pages; "estimate what
9.5 g of gold is worth" needs a calculator. These are the tools a search by meaning misses, because
the request is about something else (a summary, prices, gold). Each step below is searched for like
a request of its own; its best tool joins the results only when it clearly does that step (see
``ToolIndex``), so a catalogue without such a tool loses nothing.

Some implied steps must be done by the product that does the main action: a screenshot of
https://acme.io/pricing needs the screenshotting browser to open that page first; another product's
fetch tool cannot put it there. These companion steps are searched only among the tools of the
servers that best serve the request.
"""

from __future__ import annotations

import re

from hivekeeper.search import lexicon

# "save it to /root/notes/x.md", "write the report into out.csv", "saved at ~/site/index.html": a verb
# of keeping, then (within the same sentence) where: a path or a file name. A verb of making ("create a
# report in /root/x.md") counts when the place is a file, not a folder ("create a branch in ~/repo").
_PLACE = r"[^.;!?\n]{0,80}?\b(?:to|in|into|at|as|on)\s+(?:a\s+|the\s+)?[`'\"]?"
_FILE = r"(?:~|\.{1,2})?/?(?:[\w.-]+/)*[\w-]+\.[A-Za-z]{2,5}\b"
_DESTINATION = re.compile(
    rf"\b(?:save|saving|write|writing|written|store|export|output|dump)[sd]?\b{_PLACE}((?:~|\.{{1,2}})?/[\w./-]*[\w/]|{_FILE})"
    rf"|\b(?:create|generate|make|produce|draft|compose|prepare)[sd]?\b{_PLACE}({_FILE})",
    re.IGNORECASE,
)
_URL = re.compile(lexicon.URL, re.IGNORECASE)
_CALCULATION = re.compile(r"\b(?:calculate|compute|estimate|work out|add up|sum up)\b", re.IGNORECASE)


def implied_steps(text: str) -> list[str]:
    """Requests for the steps ``text`` implies, in plain words (searched like any request)."""
    steps: list[str] = []
    destination = _DESTINATION.search(text)
    if destination is not None:
        steps.append(f"write {lexicon.file_kind(destination.group(1) or destination.group(2))}")
    if _URL.search(text):
        steps.append("fetch url web page")
    if _CALCULATION.search(text):
        steps.append("calculate arithmetic expression")
    return steps


def companion_steps(text: str) -> list[str]:
    """Requests for the steps ``text`` implies that the product doing its main action must do."""
    return ["navigate to url"] if _URL.search(text) else []


__all__ = ["companion_steps", "implied_steps"]
