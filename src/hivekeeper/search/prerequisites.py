"""Identifiers a tool needs that only a sibling tool can produce.

The tool that does the job often needs an identifier the user never gives: "which merge requests went
out with yesterday's deploy" needs ``list_deployment_merge_requests(deployment_id)``, and only
``list_deployments`` yields a deployment's id; "where can I park near the Forbidden City" needs
coordinates that only a geocoding tool yields. A search by meaning finds the tool that does the job
and misses the one that feeds it: the request says nothing about listing deployments or geocoding.

What each tool needs and which siblings can yield it is read from the schemas and names when a server
is indexed (``server_prerequisites``); per request only ``needed`` is left: does the request talk about
the thing without holding its identifier.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hivekeeper.search import lexicon
from hivekeeper.search.text import READ_OPERATIONS, concept_terms, name_operation, query_terms, terms, words

# Last words of parameter names that hold an identifier (deployment_id, libraryId, issue_key, ...).
_ID_WORDS = frozenset({"id", "ids", "iid", "uid", "uuid", "code", "key", "sid", "slug"})
_COORDINATE_WORDS = frozenset({"latitude", "longitude", "lat", "lng", "lon", "coordinates"})
# Coordinates name no resource; the tools that yield them say what they do.
_COORDINATE_RESOURCE = "geocode"
# A parameter most of a server's tools require is the scope they work in (a project, an account, an
# organisation): users name it and models pass it on; looking it up would crowd out tools that matter.
# Coordinates are the exception: nobody knows them by heart.
SCOPE_SHARE = 0.5


@dataclass(frozen=True, slots=True)
class Prerequisite:
    """A required identifier of one tool and the sibling tools (by position on their server) that yield it."""

    parameter: str
    step: str  # the lookup in plain words, to rank the producers like an implied step
    resource: frozenset[str]  # stems of what the identifier identifies
    concepts: frozenset[str]  # and its concept tokens: an "invite" is an event
    producers: tuple[int, ...]
    coordinates: bool


def _required(tool: Mapping[str, Any]) -> list[str]:
    schema = tool.get("inputSchema")
    required = schema.get("required") if isinstance(schema, Mapping) else None
    return [name for name in required if isinstance(name, str)] if isinstance(required, list) else []


def _identified(parameter: str) -> tuple[list[str], bool] | None:
    """Words for what ``parameter`` identifies and whether it is a coordinate; None if it is no identifier.
    A bare ``id`` identifies whatever the tool acts on and is left out: the tools that list those
    things are the tool's closest siblings and mostly rank next to it already (looking them up
    changed no measured result)."""
    parts = words(parameter)
    if parts and parts[-1] in _COORDINATE_WORDS:
        return [_COORDINATE_RESOURCE], True
    if len(parts) < 2 or parts[-1] not in _ID_WORDS:
        return None
    resource = [word for word in parts[:-1] if terms(word)]  # not "from" / "to"
    return (resource, False) if resource else None


def server_prerequisites(tools: Sequence[Mapping[str, Any]]) -> tuple[tuple[Prerequisite, ...], ...]:
    """For each tool of one server, its required identifiers that other tools of the server yield.

    A producer does not itself require the identifier, does not write (reading it is how it yields
    it), and names the resource (``list_deployments`` for ``deployment_id``, ``search_docs`` for
    ``document_id``). Tools that read are preferred over those whose name holds no operation:
    ``merge_merge_request`` names merge requests too, ``list_merge_requests`` yields their ids."""
    required = [_required(tool) for tool in tools]
    names = [str(tool["name"]) for tool in tools]
    name_terms = [frozenset(query_terms(name)) for name in names]  # abbreviations spelled out: docs, repo
    operations = [name_operation(name) for name in names]
    share: dict[str, int] = {}
    for parameters in required:
        for parameter in parameters:
            share[parameter] = share.get(parameter, 0) + 1
    out: list[tuple[Prerequisite, ...]] = []
    for position, parameters in enumerate(required):
        found: list[Prerequisite] = []
        for parameter in parameters:
            identified = _identified(parameter)
            if identified is None:
                continue
            resource_words, coordinates = identified
            if not coordinates and share[parameter] > SCOPE_SHARE * len(tools):
                continue
            resource = frozenset(terms(" ".join(resource_words)))
            producers = [
                j
                for j, parameters_j in enumerate(required)
                if j != position
                and parameter not in parameters_j
                and (operations[j] is None or operations[j] in READ_OPERATIONS)
                and resource <= name_terms[j]
            ]
            readers = [j for j in producers if operations[j] is not None]
            if producers:
                step = f"find {' '.join(resource_words)}"
                concepts = frozenset(concept_terms(resource_words))
                found.append(
                    Prerequisite(parameter, step, resource, concepts, tuple(readers or producers), coordinates)
                )
        out.append(tuple(found))
    return tuple(out)


# Identifiers a request may hold: numbers of three or more digits, issue keys, #12 / !12, hashes, URLs.
_IDENTIFIER = re.compile(
    rf"(?<![\w.])\d{{3,}}(?![\w.])|(?<![\w&])[#!]\d+\b|{lexicon.ISSUE_KEY}|{lexicon.COMMIT_HASH}|{lexicon.URL}"
)
_COORDINATE_PAIR = re.compile(r"-?\d{1,3}\.\d+\s*[,;/ ]\s*-?\d{1,3}\.\d+")
# "board 42", "sprint #7": a word, then a number (the resource's identifier if the word names it)
_NUMBERED = re.compile(r"([^\W\d_]+)\s+#?(?=[\w-]*\d)[\w-]+")


def needed(prerequisite: Prerequisite, text: str, request_terms: Mapping[str, float]) -> bool:
    """Whether the request needs the lookup: it is about the resource (a request that never mentions
    deployments needs no deployment id, whatever tools came first) and does not hold its identifier.
    ``request_terms`` are the request's ``query_terms``."""
    if prerequisite.coordinates:
        return _COORDINATE_PAIR.search(text) is None  # places are named in every way: no mention to require
    if _IDENTIFIER.search(text) is not None:
        return False
    if any(prerequisite.resource & set(terms(m.group(1))) for m in _NUMBERED.finditer(text)):
        return False
    return prerequisite.resource <= request_terms.keys() or bool(
        prerequisite.concepts and prerequisite.concepts <= request_terms.keys()
    )


__all__ = ["Prerequisite", "needed", "server_prerequisites"]
