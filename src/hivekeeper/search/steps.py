"""Steps a request implies but does not state.

A request's words name the work it wants done; some of its arguments also call for a tool that no
word names. "Write a research summary and save it to /root/notes/x.md" needs a tool that writes
files; "what are the plans on https://acme.com/pricing" needs one that fetches pages; "estimate what
9.5 g of gold is worth" needs a calculator. These are the tools a search by meaning misses, because
the request is about something else (a summary, prices, gold). Each step below is searched for like
a request of its own; its best tool joins the results only when it clearly does that step (see
``ToolIndex``), so a catalogue without such a tool loses nothing.
"""

from __future__ import annotations

import re

from hivekeeper.search import lexicon

# "save it to /root/notes/x.md", "write the report into out.csv", "saved at ~/site/index.html":
# a verb of keeping, then (within the same sentence) where: a path or a file name
_DESTINATION = re.compile(
    r"\b(?:save|saved|saving|write|writing|store|stored|export|exported|output|dump)\b"
    r"[^.;!?\n]{0,80}?\b(?:to|in|into|at|as)\s+(?:a\s+|the\s+)?[`'\"]?"
    r"((?:~|\.{1,2})?/[\w./-]+|[\w-]+\.[A-Za-z]{2,5}\b)",
    re.IGNORECASE,
)
_URL = re.compile(r"\bhttps?://\S+|\bwww\.\S+\.\w+", re.IGNORECASE)
_CALCULATION = re.compile(r"\b(?:calculate|compute|estimate|work out|add up|sum up)\b", re.IGNORECASE)


def implied_steps(text: str) -> list[str]:
    """Requests for the steps ``text`` implies, in plain words (searched like any request)."""
    steps: list[str] = []
    destination = _DESTINATION.search(text)
    if destination is not None:
        steps.append(f"write {lexicon.file_kind(destination.group(1))}")
    if _URL.search(text):
        steps.append("fetch url web page")
    if _CALCULATION.search(text):
        steps.append("calculate arithmetic expression")
    return steps


__all__ = ["implied_steps"]
