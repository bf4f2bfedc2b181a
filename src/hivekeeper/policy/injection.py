"""Prompt-injection checks for text a model will read as instructions: tool names and descriptions.

The registry runs them when a server is imported; the gateway runs them on live ``tools/list`` results
because a server can change its descriptions after it was vetted. Every check is a cheap regular
expression or code-point test, so scanning a whole catalogue takes milliseconds.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem found in an entry: which rule, how bad, where, and what was seen."""

    rule: str
    severity: Severity
    location: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["severity"] = str(self.severity)
        return data


# Code points that render as nothing but still reach the model: zero-width characters, bidirectional
# overrides (which reorder what a reviewer sees) and the Unicode "tag" block (ASCII smuggling).
_INVISIBLE_RANGES = (
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x2069),
    (0xFEFF, 0xFEFF),
    (0x00AD, 0x00AD),
    (0xE0000, 0xE007F),
)

_OVERRIDE_PHRASES = re.compile(
    r"\b(ignore|disregard|forget|override)\b[^.\n]{0,40}\b(previous|prior|above|earlier|all|other|system)\b"
    r"[^.\n]{0,20}\b(instructions?|prompts?|rules?|directions?|messages?)\b",
    re.IGNORECASE,
)
_HIDDEN_DIRECTIVES = re.compile(
    r"<\s*/?\s*(important|system|instructions?|secret|hidden)\s*>"
    r"|\b(do not|don't|never)\s+(tell|inform|mention|reveal|show)\b[^.\n]{0,30}\b(user|human)\b"
    r"|\bwithout (telling|informing|asking) the user\b"
    r"|\byou (must|should) (now|always|first)\b"
    r"|\bnew instructions\b"
    r"|\bsystem prompt\b",
    re.IGNORECASE,
)
_SENSITIVE_PATHS = re.compile(
    r"(~|\$HOME|/home/[^/\s]+|/root)/\.(ssh|aws|gnupg|kube|docker|config/gcloud)\b"
    r"|\bid_(rsa|ed25519|ecdsa)\b"
    r"|/etc/(passwd|shadow|sudoers)\b"
    r"|(^|[\s/'\"`])\.env\b"
    r"|\b(mcp|claude_desktop)_config\.json\b",
    re.IGNORECASE,
)
_URL = re.compile(r"\bhttps?://[^\s<>\"')\]]+", re.IGNORECASE)
_EXFIL_VERBS = re.compile(
    r"\b(send|post|upload|forward|transmit|exfiltrate|include|append|leak)\b[^.\n]{0,60}"
    r"\b(to|into|in)\b[^.\n]{0,40}(https?://|\burl\b|\bwebhook\b|\bendpoint\b|\bserver\b)",
    re.IGNORECASE,
)
_EXFIL_HOSTS = re.compile(
    r"(webhook\.site|requestbin|pipedream\.net|ngrok(-free)?\.(io|app)|burpcollaborator|interact\.sh"
    r"|pastebin\.com|transfer\.sh|oast\.(fun|me|pro|live|site|online))",
    re.IGNORECASE,
)
_URL_WITH_TEMPLATE = re.compile(r"https?://\S*[?&][^\s=]+=\s*(\{[^}]*\}|<[^>]*>|\$\w+)", re.IGNORECASE)
_LONG_BASE64 = re.compile(r"[A-Za-z0-9+/]{80,}={0,2}")


def _invisible_characters(text: str) -> list[str]:
    found = []
    for char in text:
        point = ord(char)
        if any(low <= point <= high for low, high in _INVISIBLE_RANGES) or (
            unicodedata.category(char) == "Cc" and char not in "\n\r\t"
        ):
            found.append(f"U+{point:04X}")
    return found


def _excerpt(text: str, match: re.Match[str]) -> str:
    start, end = max(0, match.start() - 10), min(len(text), match.end() + 10)
    return " ".join(text[start:end].split())


def scan_text(text: str, location: str) -> list[Finding]:
    """Every prompt-injection pattern found in ``text`` (a tool description, a prompt, a title)."""
    findings: list[Finding] = []
    invisible = _invisible_characters(text)
    if invisible:
        shown = ", ".join(sorted(set(invisible))[:5])
        findings.append(
            Finding("invisible-unicode", Severity.HIGH, location, f"{len(invisible)} invisible characters ({shown})")
        )
    if match := _OVERRIDE_PHRASES.search(text):
        findings.append(
            Finding(
                "instruction-override",
                Severity.HIGH,
                location,
                f"asks to override instructions: '{_excerpt(text, match)}'",
            )
        )
    if match := _HIDDEN_DIRECTIVES.search(text):
        findings.append(
            Finding(
                "hidden-directive", Severity.HIGH, location, f"directive aimed at the model: '{_excerpt(text, match)}'"
            )
        )
    if match := _SENSITIVE_PATHS.search(text):
        findings.append(
            Finding("sensitive-path", Severity.HIGH, location, f"mentions a credential file: '{_excerpt(text, match)}'")
        )
    findings.extend(_url_findings(text, location))
    if match := _LONG_BASE64.search(text):
        findings.append(
            Finding("encoded-payload", Severity.MEDIUM, location, f"{len(match.group())}-character encoded blob")
        )
    return findings


def _url_findings(text: str, location: str) -> Iterable[Finding]:
    if match := _EXFIL_VERBS.search(text):
        yield Finding("exfiltration", Severity.HIGH, location, f"asks to send data out: '{_excerpt(text, match)}'")
    for url in _URL.findall(text):
        if _EXFIL_HOSTS.search(url):
            yield Finding("exfiltration-url", Severity.HIGH, location, f"known data-capture host: {url}")
        elif _URL_WITH_TEMPLATE.search(url):
            yield Finding("exfiltration-url", Severity.HIGH, location, f"URL with a fill-in parameter: {url}")


def scan_tool(name: str, description: str | None, location: str) -> list[Finding]:
    """Scan a tool's name and description; the name is checked for invisible characters only."""
    findings: list[Finding] = []
    if _invisible_characters(name):
        findings.append(
            Finding(
                "invisible-unicode", Severity.HIGH, f"{location}.name", f"invisible characters in tool name {name!r}"
            )
        )
    if description:
        findings.extend(scan_text(description, f"{location}.description"))
    return findings


__all__ = ["Finding", "Severity", "scan_text", "scan_tool"]
