"""Which of two published versions is the newer one, the way the official registry decides it.

Semantic versions compare by semver precedence; when either side is not semver the later publication
wins, since nothing else orders free-form version strings reliably.
"""

from __future__ import annotations

import re

_SEMVER = re.compile(
    r"^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*)?$"
)

SemverKey = tuple[int, int, int, int, tuple[tuple[int, int | str], ...]]


def semver_key(version: str) -> SemverKey | None:
    """A sort key by semver precedence, or ``None`` if ``version`` is not semver."""
    match = _SEMVER.match(version)
    if not match:
        return None
    major, minor, patch, prerelease = match.groups()
    # A release sorts after all of its pre-releases; identifiers compare numerically when numeric.
    parts = tuple(
        (0, int(part)) if part.isdigit() else (1, part) for part in (prerelease.split(".") if prerelease else [])
    )
    return (int(major), int(minor), int(patch), 0 if prerelease else 1, parts)


def is_newer(candidate: str, current: str) -> bool:
    """True if ``candidate`` should replace ``current`` as the latest version (``candidate`` is published later)."""
    new_key, old_key = semver_key(candidate), semver_key(current)
    if new_key is None or old_key is None:
        return True
    return _compare(new_key, old_key) >= 0


def _compare(left: SemverKey, right: SemverKey) -> int:
    if left[:4] != right[:4]:
        return 1 if left[:4] > right[:4] else -1
    for (left_kind, left_value), (right_kind, right_value) in zip(left[4], right[4], strict=False):
        if left_kind != right_kind:
            return 1 if left_kind > right_kind else -1
        if left_value != right_value:
            return 1 if left_value > right_value else -1  # type: ignore[operator]
    return (len(left[4]) > len(right[4])) - (len(left[4]) < len(right[4]))


__all__ = ["is_newer", "semver_key"]
